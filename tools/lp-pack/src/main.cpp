// livepatch-pack sign --key KEY.pem --cert CERT.(pem|der) [--hash sha512|sha256] [--version V] MODULE.ko
//   --version V: the module's .modinfo must say version=V; added before signing when absent.
// livepatch-pack pack --name N --version V --kernel K --arch A --module M.ko [--fixes F.yaml] [--no-replace] -o
// OUT.tar.xz
#include <iostream>
#include <map>

#include "pack.h"
#include "util/fs.h"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: livepatch-pack sign|pack ...\n";
        return 2;
    }
    std::string cmd = argv[1];
    std::map<std::string, std::string> o;
    std::vector<std::string> pos;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--no-replace") o[a] = "1";
        else if (a.rfind("-", 0) == 0 && i + 1 < argc) o[a] = argv[++i];
        else pos.push_back(a);
    }
    if (cmd == "sign") {
        if (pos.size() != 1 || !o.count("--key") || !o.count("--cert")) {
            std::cerr
                << "usage: livepatch-pack sign --key KEY.pem --cert CERT [--hash sha512] [--version V] MODULE.ko\n";
            return 2;
        }
        auto mod = livepatch::fs::readFile(pos[0], 512u << 20);
        auto key = livepatch::fs::readFile(o["--key"]);
        auto cert = livepatch::fs::readFile(o["--cert"]);
        if (!mod || !key || !cert) {
            std::cerr << "error: cannot read module, key or certificate\n";
            return 1;
        }
        if (o.count("--version")) {
            auto versioned = lppack::embedVersion(*mod, o["--version"]);
            if (!versioned) {
                std::cerr << "error: " << pos[0] << ": " << versioned.error().message() << "\n";
                return 1;
            }
            mod = std::move(*versioned);
        }
        auto signedMod = lppack::signModule(*mod, *key, *cert, o.count("--hash") ? o["--hash"] : "sha512");
        if (!signedMod) {
            std::cerr << "error: " << signedMod.error().message() << "\n";
            return 1;
        }
        auto s = livepatch::fs::writeFileAtomic(pos[0], *signedMod, 0644);
        if (!s) {
            std::cerr << "error: " << s.error().message() << "\n";
            return 1;
        }
        return 0;
    }
    if (cmd == "pack") {
        lppack::PackSpec spec;
        spec.name = o["--name"];
        spec.version = o["--version"];
        spec.kernel = o["--kernel"];
        spec.architecture = o["--arch"];
        spec.modulePath = o["--module"];
        spec.fixesYaml = o["--fixes"];
        spec.replace = !o.count("--no-replace");
        if (spec.name.empty() || spec.version.empty() || spec.kernel.empty() || spec.architecture.empty() ||
            spec.modulePath.empty() || !o.count("-o")) {
            std::cerr << "usage: livepatch-pack pack --name N --version V --kernel K --arch A --module M.ko [--fixes "
                         "F.yaml] [--no-replace] -o OUT.tar.xz\n";
            return 2;
        }
        auto s = lppack::packPatch(spec, o["-o"]);
        if (!s) {
            std::cerr << "error: " << s.error().message() << "\n";
            return 1;
        }
        return 0;
    }
    std::cerr << "usage: livepatch-pack sign|pack ...\n";
    return 2;
}
