// xen-livepatch-sign --key KEY.pem [--layout final|draft] FILE.o
// Adds (with objcopy) a zero-filled .note.Xen.signature section if FILE has
// none, then signs the whole file with the signature bytes zeroed (RSA
// PKCS#1 v1.5, SHA-256) and writes the signature into the note.
#include <elf.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "elf_note.h"
#include "util/fs.h"

using livepatch::plugins::xen::findSignatureNote;

namespace {
int die(const std::string& m) {
    std::cerr << "xen-livepatch-sign: " << m << "\n";
    return 1;
}
}  // namespace

int main(int argc, char** argv) {
    std::string keyPath, layout = "final", file;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--key" && i + 1 < argc) keyPath = argv[++i];
        else if (a == "--layout" && i + 1 < argc) layout = argv[++i];
        else file = a;
    }
    if (keyPath.empty() || file.empty() || (layout != "final" && layout != "draft")) {
        std::cerr << "usage: xen-livepatch-sign --key KEY.pem [--layout final|draft] FILE\n";
        return 2;
    }
    auto keyPem = livepatch::fs::readFile(keyPath);
    if (!keyPem) return die(keyPem.error().message());
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(keyPem->data(), static_cast<int>(keyPem->size())),
                                                 &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) return die("need an RSA private key (PEM)");
    const std::size_t sigSize = static_cast<std::size_t>(EVP_PKEY_get_size(key.get()));

    auto data = livepatch::fs::readFile(file, 512u << 20);
    if (!data) return die(data.error().message());
    auto note = findSignatureNote(*data);
    if (!note && note.error().code() == livepatch::ErrorCode::Unsigned) {
        // Build the note: header, "Xen\0", descriptor of zeros.
        Elf64_Nhdr nh{};
        nh.n_namesz = 4;
        nh.n_descsz = static_cast<Elf64_Word>(layout == "final" ? sigSize : 8 + sigSize);
        nh.n_type = layout == "final" ? 1u /* version 1, RSA, SHA-256 */ : 0u;
        std::string blob(reinterpret_cast<const char*>(&nh), sizeof nh);
        blob.append("Xen\0", 4);
        std::string desc(nh.n_descsz, '\0');
        if (layout == "draft") {
            std::uint16_t version = 1;
            std::uint32_t len = static_cast<std::uint32_t>(sigSize);
            std::memcpy(&desc[0], &version, 2);
            std::memcpy(&desc[4], &len, 4);
        }
        blob += desc;
        const std::string tmp = file + ".xen-note";
        if (!livepatch::fs::writeFileAtomic(tmp, blob, 0600)) return die("cannot write " + tmp);
        const std::string cmd = "objcopy --add-section .note.Xen.signature=" + tmp +
                                " --set-section-flags .note.Xen.signature=noload,readonly '" + file + "'";
        int rc = std::system(cmd.c_str());
        ::unlink(tmp.c_str());
        if (rc != 0) return die("objcopy failed");
        data = livepatch::fs::readFile(file, 512u << 20);
        if (!data) return die(data.error().message());
        note = findSignatureNote(*data);
    }
    if (!note) return die(note.error().message());
    if (note->signatureSize != sigSize)
        return die("the note holds " + std::to_string(note->signatureSize) + " signature bytes, the key needs " +
                   std::to_string(sigSize));
    std::string bytes = *data;
    std::fill(bytes.begin() + static_cast<long>(note->signatureOffset),
              bytes.begin() + static_cast<long>(note->signatureOffset + sigSize), '\0');
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::string sig(sigSize, '\0');
    std::size_t len = sigSize;
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(&sig[0]), &len,
                       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) != 1 ||
        len != sigSize)
        return die("signing failed");
    bytes.replace(note->signatureOffset, sigSize, sig);
    if (!livepatch::fs::writeFileAtomic(file, bytes, 0644)) return die("cannot write " + file);
    return 0;
}
