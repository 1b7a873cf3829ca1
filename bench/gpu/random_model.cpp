// Writes a Llama-architecture GGUF with random Q4_0 weights, for measuring speed and memory at a
// model's real widths without downloading it (bench/gpu/check.sh). The tokenizer is copied from a
// vocabulary GGUF (llama.cpp's models/ggml-vocab-*.gguf), so llama.cpp's tools read text with it.
//
//   headroom-random-model --vocab models/ggml-vocab-llama-bpe.gguf --out model.gguf
//       [--layers 32] [--embd 4096] [--heads 32] [--kv-heads 8] [--ff 14336]
//       [--rope-base 500000] [--ctx-train 131072] [--seed 1]
//
// The defaults are Meta-Llama-3-8B's config. Every matrix is Q4_0 (blocks of 32 weights: one f16
// scale, 16 bytes of 4-bit values), written block by block: a random nibble per weight and a fixed
// scale per matrix, so each matrix's values have a standard deviation near 1/sqrt(its input width)
// and activations stay finite through all layers. The nibbles are symmetric around Q4_0's zero (8):
// uniform nibbles would average -0.5 scale, a bias every row shares, which drives a random model to
// repeat one token; here 0 is read as 8, so the weights are -7..7 with zero twice as likely, mean 0.
// Norms are F32 ones. The weights are streamed to the file, so a 4.2 GiB model needs a few MiB of
// memory.
#include "ggml.h"
#include "gguf.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct options {
    std::string vocab;
    std::string out;
    int64_t n_layer   = 32;
    int64_t n_embd    = 4096;
    int64_t n_head    = 32;
    int64_t n_head_kv = 8;
    int64_t n_ff      = 14336;
    float   rope_base = 500000.0f;
    int64_t ctx_train = 131072;
    uint64_t seed     = 1;
};

[[noreturn]] void usage(const char * argv0, const char * why) {
    if (why) {
        fprintf(stderr, "error: %s\n", why);
    }
    fprintf(stderr,
        "usage: %s --vocab VOCAB.gguf --out MODEL.gguf [--layers N] [--embd N] [--heads N] [--kv-heads N]\n"
        "          [--ff N] [--rope-base F] [--ctx-train N] [--seed N]\n", argv0);
    exit(2);
}

options parse(int argc, char ** argv) {
    options o;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            usage(argv[0], ("missing the value of " + a).c_str());
        }
        const char * v = argv[++i];
        if      (a == "--vocab")     o.vocab     = v;
        else if (a == "--out")       o.out       = v;
        else if (a == "--layers")    o.n_layer   = atoll(v);
        else if (a == "--embd")      o.n_embd    = atoll(v);
        else if (a == "--heads")     o.n_head    = atoll(v);
        else if (a == "--kv-heads")  o.n_head_kv = atoll(v);
        else if (a == "--ff")        o.n_ff      = atoll(v);
        else if (a == "--rope-base") o.rope_base = (float) atof(v);
        else if (a == "--ctx-train") o.ctx_train = atoll(v);
        else if (a == "--seed")      o.seed      = strtoull(v, nullptr, 10);
        else usage(argv[0], ("unknown argument " + a).c_str());
    }
    if (o.vocab.empty() || o.out.empty()) {
        usage(argv[0], "--vocab and --out are required");
    }
    if (o.n_layer < 1 || o.n_head < 1 || o.n_head_kv < 1 || o.n_head % o.n_head_kv != 0 || o.n_embd % o.n_head != 0) {
        usage(argv[0], "the KV heads must divide the heads, and the heads the embedding width");
    }
    if (o.n_embd % 32 != 0 || o.n_ff % 32 != 0 || (o.n_embd / o.n_head) % 32 != 0) {
        usage(argv[0], "Q4_0 needs the embedding, head and feed-forward widths to be multiples of 32");
    }
    return o;
}

// splitmix64: a fast, well-mixed stream; the weights only need to look random to the matrix multiplies
struct rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

constexpr int64_t QK = 32;         // weights per Q4_0 block
constexpr size_t  Q4_0_BLOCK = 18; // f16 scale + 16 bytes of nibbles

// the Q4_0 scale that gives weights (nibble - 8) * d a standard deviation of gain / sqrt(fan_in);
// the nibbles below give -7..7 with 0 twice as likely: a standard deviation of sqrt(2 * 140 / 16) = 4.18
float q4_scale(int64_t fan_in, float gain) {
    return gain / (4.18f * std::sqrt((float) fan_in));
}

// a random byte -> two nibbles with the low nibble's 0 read as 8 and the high one's too (Q4_0's zero)
struct nibble_map {
    uint8_t to[256];
    nibble_map() {
        for (int b = 0; b < 256; b++) {
            const int lo = (b & 0xF) == 0 ? 8 : (b & 0xF);
            const int hi = (b >> 4) == 0 ? 8 : (b >> 4);
            to[b] = (uint8_t) (lo | (hi << 4));
        }
    }
};

struct tensor_plan {
    std::string name;
    ggml_type   type;
    int64_t     ne0; // the input width (a row)
    int64_t     ne1; // rows
    float       scale; // Q4_0: the blocks' scale; F32: the value
};

bool write_all(FILE * f, const void * data, size_t n) {
    return fwrite(data, 1, n, f) == n;
}

} // namespace

int main(int argc, char ** argv) {
    const options o = parse(argc, argv);
    const auto t0 = std::chrono::steady_clock::now();

    gguf_init_params vp = { /* no_alloc = */ true, /* ctx = */ nullptr };
    gguf_context * vocab = gguf_init_from_file(o.vocab.c_str(), vp);
    if (!vocab) {
        fprintf(stderr, "error: cannot read the vocabulary GGUF %s\n", o.vocab.c_str());
        return 1;
    }
    const int64_t tokens_key = gguf_find_key(vocab, "tokenizer.ggml.tokens");
    if (tokens_key < 0) {
        fprintf(stderr, "error: %s has no tokenizer.ggml.tokens\n", o.vocab.c_str());
        return 1;
    }
    const int64_t n_vocab = (int64_t) gguf_get_arr_n(vocab, tokens_key);
    if (n_vocab < 1) {
        fprintf(stderr, "error: %s has an empty vocabulary\n", o.vocab.c_str());
        return 1;
    }

    gguf_context * g = gguf_init_empty();

    // the tokenizer, every tokenizer.* key of the vocabulary file; the rest of its keys describe another model
    gguf_set_kv(g, vocab);
    for (int64_t i = gguf_get_n_kv(g) - 1; i >= 0; i--) {
        const std::string key = gguf_get_key(g, i);
        if (key.rfind("tokenizer.", 0) != 0) {
            gguf_remove_key(g, key.c_str());
        }
    }
    gguf_free(vocab);

    const int64_t head_dim = o.n_embd / o.n_head;
    char name[128];
    snprintf(name, sizeof(name), "Headroom random Llama (%" PRId64 " layers, %" PRId64 " wide, Q4_0)", o.n_layer, o.n_embd);
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_str(g, "general.name", name);
    gguf_set_val_u32(g, "general.file_type", 2); // LLAMA_FTYPE_MOSTLY_Q4_0
    gguf_set_val_u32(g, "general.quantization_version", GGML_QNT_VERSION);
    gguf_set_val_u32(g, "llama.block_count", (uint32_t) o.n_layer);
    gguf_set_val_u32(g, "llama.context_length", (uint32_t) o.ctx_train);
    gguf_set_val_u32(g, "llama.embedding_length", (uint32_t) o.n_embd);
    gguf_set_val_u32(g, "llama.feed_forward_length", (uint32_t) o.n_ff);
    gguf_set_val_u32(g, "llama.attention.head_count", (uint32_t) o.n_head);
    gguf_set_val_u32(g, "llama.attention.head_count_kv", (uint32_t) o.n_head_kv);
    gguf_set_val_f32(g, "llama.rope.freq_base", o.rope_base);
    gguf_set_val_u32(g, "llama.rope.dimension_count", (uint32_t) head_dim);
    gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_set_val_u32(g, "llama.vocab_size", (uint32_t) n_vocab);

    // llama.cpp's tensor names and shapes for LLM_ARCH_LLAMA (ne0 = input width)
    const int64_t n_q  = o.n_head * head_dim;
    const int64_t n_kv = o.n_head_kv * head_dim;
    std::vector<tensor_plan> plan;
    plan.push_back({ "token_embd.weight", GGML_TYPE_Q4_0, o.n_embd, n_vocab, q4_scale(o.n_embd, 1.0f) });
    for (int64_t il = 0; il < o.n_layer; il++) {
        const std::string p = "blk." + std::to_string(il) + ".";
        plan.push_back({ p + "attn_norm.weight",   GGML_TYPE_F32,  o.n_embd, 1,        1.0f });
        plan.push_back({ p + "attn_q.weight",      GGML_TYPE_Q4_0, o.n_embd, n_q,      q4_scale(o.n_embd, 1.0f) });
        plan.push_back({ p + "attn_k.weight",      GGML_TYPE_Q4_0, o.n_embd, n_kv,     q4_scale(o.n_embd, 1.0f) });
        plan.push_back({ p + "attn_v.weight",      GGML_TYPE_Q4_0, o.n_embd, n_kv,     q4_scale(o.n_embd, 1.0f) });
        plan.push_back({ p + "attn_output.weight", GGML_TYPE_Q4_0, n_q,      o.n_embd, q4_scale(n_q, 0.5f) });
        plan.push_back({ p + "ffn_norm.weight",    GGML_TYPE_F32,  o.n_embd, 1,        1.0f });
        plan.push_back({ p + "ffn_gate.weight",    GGML_TYPE_Q4_0, o.n_embd, o.n_ff,   q4_scale(o.n_embd, 1.0f) });
        plan.push_back({ p + "ffn_up.weight",      GGML_TYPE_Q4_0, o.n_embd, o.n_ff,   q4_scale(o.n_embd, 1.0f) });
        plan.push_back({ p + "ffn_down.weight",    GGML_TYPE_Q4_0, o.n_ff,   o.n_embd, q4_scale(o.n_ff, 0.5f) });
    }
    plan.push_back({ "output_norm.weight", GGML_TYPE_F32,  o.n_embd, 1,       1.0f });
    plan.push_back({ "output.weight",      GGML_TYPE_Q4_0, o.n_embd, n_vocab, q4_scale(o.n_embd, 1.0f) });

    // tensor infos only: no_alloc, the data is streamed below in the same order
    ggml_init_params ip = { /* mem_size = */ ggml_tensor_overhead() * (plan.size() + 1), /* mem_buffer = */ nullptr, /* no_alloc = */ true };
    ggml_context * meta = ggml_init(ip);
    for (const auto & t : plan) {
        ggml_tensor * tensor = t.ne1 == 1 ? ggml_new_tensor_1d(meta, t.type, t.ne0) : ggml_new_tensor_2d(meta, t.type, t.ne0, t.ne1);
        ggml_set_name(tensor, t.name.c_str());
        gguf_add_tensor(g, tensor);
    }

    if (!gguf_write_to_file(g, o.out.c_str(), /* only_meta = */ true)) {
        fprintf(stderr, "error: cannot write %s\n", o.out.c_str());
        return 1;
    }
    FILE * f = fopen(o.out.c_str(), "ab");
    if (!f) {
        fprintf(stderr, "error: cannot append to %s\n", o.out.c_str());
        return 1;
    }

    const size_t alignment = gguf_get_alignment(g);
    rng r = { o.seed };
    const nibble_map nibbles;
    std::vector<uint8_t> buf;
    const size_t chunk_blocks = 1 << 18; // 4.5 MiB of Q4_0 at a time
    uint64_t written = 0;
    int64_t params = 0;
    for (size_t it = 0; it < plan.size(); it++) {
        const auto & t = plan[it];
        const size_t nbytes = gguf_get_tensor_size(g, (int64_t) it);
        params += t.ne0 * t.ne1;
        if (t.type == GGML_TYPE_F32) {
            buf.assign(nbytes, 0);
            for (int64_t i = 0; i < t.ne0 * t.ne1; i++) {
                memcpy(buf.data() + i * sizeof(float), &t.scale, sizeof(float));
            }
            if (!write_all(f, buf.data(), nbytes)) {
                fprintf(stderr, "error: writing %s failed\n", o.out.c_str());
                return 1;
            }
        } else {
            const ggml_fp16_t d = ggml_fp32_to_fp16(t.scale);
            const size_t n_blocks = (size_t) (t.ne0 / QK) * (size_t) t.ne1;
            for (size_t b0 = 0; b0 < n_blocks; b0 += chunk_blocks) {
                const size_t nb = std::min(chunk_blocks, n_blocks - b0);
                buf.resize(nb * Q4_0_BLOCK);
                for (size_t b = 0; b < nb; b++) {
                    uint8_t * blk = buf.data() + b * Q4_0_BLOCK;
                    memcpy(blk, &d, sizeof(d));
                    const uint64_t lo = r.next();
                    const uint64_t hi = r.next();
                    memcpy(blk + 2, &lo, 8);
                    memcpy(blk + 10, &hi, 8);
                    for (int i = 2; i < 18; i++) {
                        blk[i] = nibbles.to[blk[i]];
                    }
                }
                if (!write_all(f, buf.data(), buf.size())) {
                    fprintf(stderr, "error: writing %s failed\n", o.out.c_str());
                    return 1;
                }
            }
        }
        const size_t pad = GGML_PAD(nbytes, alignment) - nbytes;
        if (pad > 0) {
            const std::vector<uint8_t> zeros(pad, 0);
            if (!write_all(f, zeros.data(), pad)) {
                fprintf(stderr, "error: writing %s failed\n", o.out.c_str());
                return 1;
            }
        }
        written += nbytes + pad;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "error: closing %s failed\n", o.out.c_str());
        return 1;
    }

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // one JSON line for bench/gpu/check.sh
    printf("{\"path\": \"%s\", \"bytes\": %" PRIu64 ", \"params\": %" PRId64 ", \"type\": \"Q4_0\", \"n_vocab\": %" PRId64
           ", \"n_layer\": %" PRId64 ", \"n_embd\": %" PRId64 ", \"n_head\": %" PRId64 ", \"n_head_kv\": %" PRId64
           ", \"head_dim\": %" PRId64 ", \"n_ff\": %" PRId64 ", \"rope_base\": %.1f, \"ctx_train\": %" PRId64
           ", \"seed\": %" PRIu64 ", \"seconds\": %.2f}\n",
           o.out.c_str(), (uint64_t) gguf_get_meta_size(g) + written, params, n_vocab, o.n_layer, o.n_embd, o.n_head,
           o.n_head_kv, head_dim, o.n_ff, (double) o.rope_base, o.ctx_train, o.seed, seconds);

    ggml_free(meta);
    gguf_free(g);
    return 0;
}
