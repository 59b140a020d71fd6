// llamacpp_split runs llama.cpp's own pre-tokenizer (unicode_regex_split from
// the llama.cpp vendored in Ollama v0.6.5) so tests can compare against it.
//
// Usage: llamacpp_split gpt2|llama3|qwen2|smollm < records
// Input records: uint32 little-endian length, then that many bytes of text.
// Output per record: uint32 word count, then per word uint32 length + bytes
// (words in llama.cpp's byte-to-unicode form).
#include "unicode.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static bool read_u32(uint32_t & v) {
    unsigned char b[4];
    if (fread(b, 1, 4, stdin) != 4) return false;
    v = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t) b[3] << 24);
    return true;
}

static void write_u32(uint32_t v) {
    unsigned char b[4] = {(unsigned char) v, (unsigned char) (v >> 8), (unsigned char) (v >> 16), (unsigned char) (v >> 24)};
    fwrite(b, 1, 4, stdout);
}

int main(int argc, char ** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s gpt2|llama3|qwen2|smollm\n", argv[0]);
        return 2;
    }
    std::vector<std::string> exprs;
    // The regex lists of llm_tokenizer_bpe for LLAMA_VOCAB_PRE_TYPE_{GPT2,LLAMA3,QWEN2,SMOLLM}.
    if (strcmp(argv[1], "gpt2") == 0) {
        exprs = {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
    } else if (strcmp(argv[1], "llama3") == 0) {
        exprs = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    } else if (strcmp(argv[1], "qwen2") == 0) {
        exprs = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    } else if (strcmp(argv[1], "smollm") == 0) {
        exprs = {"\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"};
    } else {
        fprintf(stderr, "unknown pre-tokenizer %s\n", argv[1]);
        return 2;
    }
    uint32_t n;
    while (read_u32(n)) {
        std::string text(n, '\0');
        if (n > 0 && fread(&text[0], 1, n, stdin) != n) return 1;
        std::vector<std::string> words;
        if (!text.empty()) {
            words = unicode_regex_split(text, exprs);
        }
        write_u32((uint32_t) words.size());
        for (const auto & w : words) {
            write_u32((uint32_t) w.size());
            fwrite(w.data(), 1, w.size(), stdout);
        }
        fflush(stdout);
    }
    return 0;
}
