#include "elf_note.h"

#include <livepatch/trusted_files.h>

#include <elf.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace livepatch::plugins::xen {

namespace {

constexpr const char* kSection = ".note.Xen.signature";
constexpr std::size_t kMinSig = 128, kMaxSig = 1024;

Error invalid(const std::string& why) { return Error(ErrorCode::SignatureInvalid, "Xen signature note: " + why); }

template <typename T>
bool readAt(std::string_view data, std::size_t off, T& out) {
    if (off > data.size() || data.size() - off < sizeof(T)) return false;
    std::memcpy(&out, data.data() + off, sizeof(T));
    return true;
}

std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t(3); }

}  // namespace

Result<SignatureNote> findSignatureNote(std::string_view elf) {
    Elf64_Ehdr eh;
    if (!readAt(elf, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        return Error(ErrorCode::SignatureInvalid, "not an ELF file");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return Error(ErrorCode::SignatureInvalid, "only little-endian ELF64 is supported");
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 4096 || eh.e_shstrndx >= eh.e_shnum)
        return Error(ErrorCode::SignatureInvalid, "malformed ELF section table");
    if (eh.e_shoff > elf.size() || (elf.size() - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum)
        return Error(ErrorCode::SignatureInvalid, "ELF section table outside the file");
    auto section = [&](std::size_t i) {
        Elf64_Shdr sh;
        readAt(elf, eh.e_shoff + i * sizeof(Elf64_Shdr), sh);
        return sh;
    };
    const Elf64_Shdr strtab = section(eh.e_shstrndx);
    if (strtab.sh_offset > elf.size() || strtab.sh_size > elf.size() - strtab.sh_offset)
        return Error(ErrorCode::SignatureInvalid, "ELF section names outside the file");
    std::vector<Elf64_Shdr> found;
    for (std::size_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr sh = section(i);
        if (sh.sh_name >= strtab.sh_size) continue;
        const char* name = elf.data() + strtab.sh_offset + sh.sh_name;
        std::size_t maxLen = strtab.sh_size - sh.sh_name;
        if (strnlen(name, maxLen) == std::strlen(kSection) && std::strncmp(name, kSection, maxLen) == 0)
            found.push_back(sh);
    }
    if (found.empty()) return Error(ErrorCode::Unsigned, "no .note.Xen.signature section");
    if (found.size() > 1) return invalid("more than one .note.Xen.signature section");
    const Elf64_Shdr& sh = found[0];
    if (sh.sh_type != SHT_NOTE && sh.sh_type != SHT_PROGBITS) return invalid("section is not a note");
    if (sh.sh_offset > elf.size() || sh.sh_size > elf.size() - sh.sh_offset) return invalid("section outside the file");
    Elf64_Nhdr nh;
    if (sh.sh_size < sizeof nh || !readAt(elf, sh.sh_offset, nh)) return invalid("section too small for a note");
    const std::size_t nameOff = sh.sh_offset + sizeof nh;
    const std::size_t descOff = nameOff + align4(nh.n_namesz);
    if (nh.n_namesz != 4) return invalid("note name is not \"Xen\"");
    // The name must lie inside the section (and so inside the file) before
    // it is compared: a 12-15 byte section at the end of the file has none.
    if (sh.sh_size - sizeof nh < align4(nh.n_namesz)) return invalid("note name outside the section");
    if (std::memcmp(elf.data() + nameOff, "Xen\0", 4) != 0) return invalid("note name is not \"Xen\"");
    if (nh.n_descsz > sh.sh_size || descOff + nh.n_descsz > sh.sh_offset + sh.sh_size)
        return invalid("descriptor exceeds the section");
    if (sh.sh_offset + sh.sh_size - (descOff + align4(nh.n_descsz)) != 0)
        return invalid("more than one note in the section");
    SignatureNote n;
    if (nh.n_type != 0) {
        n.layout = Layout::Final;
        n.version = nh.n_type & 0xffff;
        n.algorithm = (nh.n_type >> 16) & 0xff;
        n.hash = (nh.n_type >> 24) & 0xff;
        n.signatureOffset = descOff;
        n.signatureSize = nh.n_descsz;
    } else {
        n.layout = Layout::Draft;
        if (nh.n_descsz < 8) return invalid("draft header truncated");
        std::uint16_t version;
        std::uint32_t sigLen;
        readAt(elf, descOff, version);
        readAt(elf, descOff + 4, sigLen);
        n.version = version;
        n.algorithm = static_cast<std::uint8_t>(elf[descOff + 2]);
        n.hash = static_cast<std::uint8_t>(elf[descOff + 3]);
        if (sigLen != nh.n_descsz - 8) return invalid("draft sig_len does not match the descriptor");
        n.signatureOffset = descOff + 8;
        n.signatureSize = sigLen;
    }
    if (n.version != 1) return invalid("unknown version " + std::to_string(n.version));
    if (n.algorithm != 0) return invalid("unknown algorithm " + std::to_string(n.algorithm) + " (only 0 = RSA)");
    if (n.hash != 0) return invalid("unknown hash " + std::to_string(n.hash) + " (only 0 = SHA-256)");
    if (n.signatureSize < kMinSig || n.signatureSize > kMaxSig)
        return invalid("signature size " + std::to_string(n.signatureSize) + " out of bounds");
    return n;
}

PluginInfo ElfNoteVerifier::info() const noexcept {
    return {"verify-elf-note", PluginRole::Verifier, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "Xen-style ELF note signature (RSA, SHA-256), final and draft layouts"};
}

Status ElfNoteVerifier::configure(const PluginContext& ctx) noexcept {
    keyringDir_ = ctx.config->value("keyring-dir");  // core's key: every verifier reads it
    enforceOwnership_ = ::geteuid() == 0;
    return {};
}

Result<VerifyReport> ElfNoteVerifier::verify(const ModuleImage& image) noexcept {
    try {
        auto note = findSignatureNote(image.bytes);
        if (!note) return note.error();
        namespace fsys = std::filesystem;
        auto files = readTrustedFiles(keyringDir_, {".pem"}, enforceOwnership_);
        if (!files) return files.error();
        std::string copy(image.bytes);
        const std::string sig = copy.substr(note->signatureOffset, note->signatureSize);
        std::fill(copy.begin() + static_cast<long>(note->signatureOffset),
                  copy.begin() + static_cast<long>(note->signatureOffset + note->signatureSize), '\0');
        int keys = 0;
        for (const auto& f : *files) {
            const std::string& pem = f.bytes;
            std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                          &BIO_free);
            EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
            if (!key) {
                BIO_reset(bio.get());
                if (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
                    key = X509_get_pubkey(x);
                    X509_free(x);
                }
            }
            if (!key) continue;
            std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(key, &EVP_PKEY_free);
            if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) continue;
            ++keys;
            if (static_cast<std::size_t>(EVP_PKEY_get_size(key)) != sig.size()) continue;
            std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
            if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                 reinterpret_cast<const unsigned char*>(copy.data()), copy.size()) == 1)
                return VerifyReport{"verify-elf-note", fsys::path(f.path).filename().string(), "rsa-sha256",
                                    std::string("Xen ELF note (") +
                                        (note->layout == Layout::Final ? "final" : "draft") + " layout) signed by " +
                                        fsys::path(f.path).filename().string()};
        }
        if (keys == 0) return Error(ErrorCode::UntrustedSigner, "keyring " + keyringDir_ + " holds no RSA public keys");
        return Error(ErrorCode::SignatureInvalid, "Xen signature note does not verify with any key in " + keyringDir_);
    } catch (const std::exception& e) {
        return Error(ErrorCode::Internal, std::string("verify-elf-note: ") + e.what());
    }
}

}  // namespace livepatch::plugins::xen
