#!/usr/bin/env python3
"""Write a tiny random-weight llama GGUF model for llmlab's end-to-end tests.

usage: make-tiny-model.py VOCAB.gguf OUT.gguf [options]

The model has the llama architecture, a real tokenizer and random weights, so
llama.cpp loads it and generates (meaningless) text very fast:

* every ``tokenizer.*`` key/value of VOCAB.gguf (a vocab-only GGUF such as
  llama.cpp's ``models/ggml-vocab-llama-spm.gguf``) is copied byte for byte;
* matrices are F16, uniformly random from a seeded ``random.Random``; norm
  weights are F32 ones; the output head is a separate ``output.weight``;
* the output-head rows of unknown/control/unused/byte tokens are zero, so
  their logits are exactly 0 while ordinary tokens spread around +-3: EOS is
  (in practice) never sampled and every generation runs to max_tokens and
  yields clean word pieces (``--allow-eos`` keeps those rows random);
* the output is a pure function of the arguments and the vocab file: the
  same inputs always give the same bytes (and sha256).

Only the Python standard library is used; any python3 >= 3.6 runs it.  The
file is written to a temporary name next to OUT and renamed into place.
"""

import argparse
import array
import math
import os
import random
import struct
import sys

# GGUF metadata value types (gguf.h: enum gguf_type).
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, \
    T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

# struct formats of the fixed-size value types.
SCALAR_FORMATS = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h",
    T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<B",
    T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d",
}

# ggml tensor types used here.
GGML_TYPE_F32 = 0
GGML_TYPE_F16 = 1
LLAMA_FTYPE_MOSTLY_F16 = 1

# llama.cpp token types (llama_token_type) whose logits are silenced.
TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_UNUSED, TOKEN_BYTE = 2, 3, 5, 6
SILENCED_TOKEN_TYPES = (TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_UNUSED, TOKEN_BYTE)

ALIGNMENT = 32

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


class GGUFError(Exception):
    """The vocabulary file is not a GGUF file this script understands."""


class VocabInfo:
    """What the generator needs from a vocab-only GGUF file."""

    def __init__(self):
        #: (key, raw bytes of the whole key/value record) in file order
        self.tokenizer_records = []
        self.n_vocab = 0
        #: per-token llama token types, or None if the file has none
        self.token_types = None
        #: special token ids named in the file (bos/eos/unk/...)
        self.special_ids = []


class _Cursor:
    """Little-endian reader over an in-memory GGUF file."""

    def __init__(self, data, path):
        self.data = data
        self.path = path
        self.pos = 0

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise GGUFError("%s: truncated at byte %d" % (self.path, self.pos))
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def read_string(self):
        length = self.unpack("<Q")
        end = self.pos + length
        if end > len(self.data):
            raise GGUFError("%s: truncated string at byte %d" % (self.path, self.pos))
        raw = self.data[self.pos:end]
        self.pos = end
        return raw.decode("utf-8")

    def skip_value(self, vtype):
        """Advance past one value of type VTYPE."""
        if vtype == T_STRING:
            self.pos += 8 + struct.unpack_from("<Q", self.data, self.pos)[0]
        elif vtype == T_ARRAY:
            elem_type = self.unpack("<I")
            count = self.unpack("<Q")
            if elem_type in SCALAR_FORMATS:
                self.pos += count * struct.calcsize(SCALAR_FORMATS[elem_type])
            else:
                for _ in range(count):
                    self.skip_value(elem_type)
        elif vtype in SCALAR_FORMATS:
            self.pos += struct.calcsize(SCALAR_FORMATS[vtype])
        else:
            raise GGUFError("%s: unknown value type %d at byte %d" % (self.path, vtype, self.pos))
        if self.pos > len(self.data):
            raise GGUFError("%s: truncated value" % self.path)


def read_vocab(path):
    """Parse the metadata of the GGUF file PATH and return a VocabInfo."""
    with open(path, "rb") as handle:
        data = handle.read()
    cur = _Cursor(data, path)
    if data[:4] != b"GGUF":
        raise GGUFError("%s: not a GGUF file (bad magic)" % path)
    cur.pos = 4
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise GGUFError("%s: unsupported GGUF version %d (need 2 or 3, little-endian)" % (path, version))
    cur.unpack("<Q")  # tensor count: irrelevant, only metadata is used
    n_kv = cur.unpack("<Q")

    info = VocabInfo()
    for _ in range(n_kv):
        record_start = cur.pos
        key = cur.read_string()
        vtype = cur.unpack("<I")
        value_start = cur.pos
        cur.skip_value(vtype)
        if not key.startswith("tokenizer."):
            continue
        info.tokenizer_records.append((key, data[record_start:cur.pos]))
        if key == "tokenizer.ggml.tokens" and vtype == T_ARRAY:
            info.n_vocab = struct.unpack_from("<Q", data, value_start + 4)[0]
        elif key == "tokenizer.ggml.token_type" and vtype == T_ARRAY:
            elem_type, count = struct.unpack_from("<IQ", data, value_start)
            if elem_type == T_INT32:
                info.token_types = struct.unpack_from("<%di" % count, data, value_start + 12)
        elif key.endswith("_token_id") and vtype in (T_UINT32, T_INT32):
            info.special_ids.append(struct.unpack_from(SCALAR_FORMATS[vtype], data, value_start)[0])
    if info.n_vocab == 0:
        raise GGUFError("%s: no tokenizer.ggml.tokens array" % path)
    return info


# ------------------------------------------------------------------ metadata

def _gguf_string(text):
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def metadata_record(key, vtype, value):
    """Encode one GGUF key/value record of a scalar or string type."""
    head = _gguf_string(key) + struct.pack("<I", vtype)
    if vtype == T_STRING:
        return head + _gguf_string(value)
    return head + struct.pack(SCALAR_FORMATS[vtype], value)


# ------------------------------------------------------------------ weights

class WeightSource:
    """Deterministic uniform random F16 data.

    Each F16 value is drawn by taking 16 random bits from a seeded
    random.Random and mapping them through a 65536-entry table of F16 bit
    patterns spread evenly over (-amp, amp).  That keeps generation of the
    ~9 M parameters at well under a second of C-level work.
    """

    def __init__(self, seed):
        self._rng = random.Random(seed)
        self._tables = {}

    def _table(self, amp):
        table = self._tables.get(amp)
        if table is None:
            pack, unpack = struct.Struct("<e").pack, struct.Struct("<H").unpack
            table = [unpack(pack(((k + 0.5) / 32768.0 - 1.0) * amp))[0] for k in range(65536)]
            self._tables[amp] = table
        return table

    def uniform_f16(self, count, std):
        """COUNT F16 values (as array('H') of bit patterns) with deviation STD."""
        amp = std * math.sqrt(3.0)  # U(-a, a) has standard deviation a / sqrt(3)
        raw = self._rng.getrandbits(16 * count).to_bytes(2 * count, "little") if count else b""
        index = array.array("H", raw)
        if sys.byteorder == "big":
            index.byteswap()
        return array.array("H", map(self._table(amp).__getitem__, index))


def f32_ones(count):
    """COUNT float32 ones as array('f')."""
    return array.array("f", [1.0]) * count


def tensor_bytes(values):
    """Little-endian bytes of an array('H') or array('f')."""
    if sys.byteorder == "big":
        values = array.array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


class Tensor:
    """One tensor: name, ggml shape (ne[0] is the row length), type, bytes."""

    def __init__(self, name, shape, ggml_type, data):
        self.name = name
        self.shape = shape
        self.ggml_type = ggml_type
        self.data = data


def build_tensors(args, vocab, weights):
    """Create the llama tensors for the shape in ARGS."""
    n_embd, n_ff, n_vocab = args.n_embd, args.n_ff, vocab.n_vocab
    head_dim = n_embd // args.n_head
    n_embd_kv = head_dim * args.n_head_kv
    in_std = 1.0 / math.sqrt(n_embd)

    def matrix(name, n_in, n_out, std):
        return Tensor(name, [n_in, n_out], GGML_TYPE_F16,
                      tensor_bytes(weights.uniform_f16(n_in * n_out, std)))

    def norm(name):
        return Tensor(name, [n_embd], GGML_TYPE_F32, tensor_bytes(f32_ones(n_embd)))

    tensors = [matrix("token_embd.weight", n_embd, n_vocab, 1.0)]
    for layer in range(args.n_layer):
        prefix = "blk.%d." % layer
        tensors += [
            norm(prefix + "attn_norm.weight"),
            matrix(prefix + "attn_q.weight", n_embd, n_embd, in_std),
            matrix(prefix + "attn_k.weight", n_embd, n_embd_kv, in_std),
            matrix(prefix + "attn_v.weight", n_embd, n_embd_kv, in_std),
            matrix(prefix + "attn_output.weight", n_embd, n_embd, in_std),
            norm(prefix + "ffn_norm.weight"),
            matrix(prefix + "ffn_gate.weight", n_embd, n_ff, in_std),
            matrix(prefix + "ffn_up.weight", n_embd, n_ff, in_std),
            matrix(prefix + "ffn_down.weight", n_ff, n_embd, 1.0 / math.sqrt(n_ff)),
        ]
    tensors.append(norm("output_norm.weight"))

    # Output head: logits of ordinary tokens ~ 3 standard deviations wide.
    head = weights.uniform_f16(n_embd * n_vocab, 3.0 / math.sqrt(n_embd))
    if not args.allow_eos:
        if vocab.token_types is not None:
            silenced = [i for i, kind in enumerate(vocab.token_types[:n_vocab])
                        if kind in SILENCED_TOKEN_TYPES]
        else:  # no token types in the vocab: silence at least the named specials
            silenced = sorted(set(i for i in vocab.special_ids if 0 <= i < n_vocab))
        zero_row = array.array("H", bytes(2 * n_embd))
        for token in silenced:
            head[token * n_embd:(token + 1) * n_embd] = zero_row
    tensors.append(Tensor("output.weight", [n_embd, n_vocab], GGML_TYPE_F16, tensor_bytes(head)))
    return tensors


# ------------------------------------------------------------------ file

def _padding(size):
    return b"\0" * (-size % ALIGNMENT)


def write_gguf(path, records, tensors):
    """Write a GGUF v3 file with metadata RECORDS and TENSORS; return its size."""
    infos = []
    offset = 0
    for tensor in tensors:
        infos.append(_gguf_string(tensor.name)
                     + struct.pack("<I", len(tensor.shape))
                     + struct.pack("<%dQ" % len(tensor.shape), *tensor.shape)
                     + struct.pack("<IQ", tensor.ggml_type, offset))
        offset += len(tensor.data) + (-len(tensor.data) % ALIGNMENT)

    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(records))
    meta = header + b"".join(records) + b"".join(infos)

    tmp_path = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp_path, "wb") as out:
            out.write(meta)
            out.write(_padding(len(meta)))
            for tensor in tensors:
                out.write(tensor.data)
                out.write(_padding(len(tensor.data)))
            size = out.tell()
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    return size


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 2)[0],
        epilog="Defaults give an ~18 MB model with 8.6 M parameters.")
    parser.add_argument("vocab", metavar="VOCAB.gguf",
                        help="vocab-only GGUF whose tokenizer is copied (e.g. ggml-vocab-llama-spm.gguf)")
    parser.add_argument("out", metavar="OUT.gguf", help="model file to write")
    parser.add_argument("--n-embd", type=int, default=128, help="embedding width (default 128)")
    parser.add_argument("--n-layer", type=int, default=2, help="transformer blocks (default 2)")
    parser.add_argument("--n-head", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--n-head-kv", type=int, default=2, help="key/value heads (default 2)")
    parser.add_argument("--n-ff", type=int, default=384, help="feed-forward width (default 384)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="training context length (default 2048)")
    parser.add_argument("--rope-base", type=float, default=10000.0, help="RoPE frequency base")
    parser.add_argument("--seed", type=int, default=20240501, help="weight seed (default 20240501)")
    parser.add_argument("--name", default="llmlab-tiny-llama", help="general.name of the model")
    parser.add_argument("--chat-template", metavar="chatml|JINJA",
                        help="embed a chat template: 'chatml' or a literal Jinja template")
    parser.add_argument("--allow-eos", action="store_true",
                        help="keep random output-head rows for control/byte tokens, so EOS can be sampled")
    args = parser.parse_args(argv)

    for field in ("n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_ctx"):
        if getattr(args, field) <= 0:
            parser.error("--%s must be positive" % field.replace("_", "-"))
    if args.n_embd % args.n_head:
        parser.error("--n-embd must be a multiple of --n-head")
    if args.n_head % args.n_head_kv:
        parser.error("--n-head must be a multiple of --n-head-kv")
    if (args.n_embd // args.n_head) % 2:
        parser.error("the head dimension (n_embd / n_head) must be even for RoPE")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        vocab = read_vocab(args.vocab)
    except (OSError, GGUFError) as err:
        print("make-tiny-model: %s" % err, file=sys.stderr)
        return 1

    head_dim = args.n_embd // args.n_head
    records = [
        metadata_record("general.architecture", T_STRING, "llama"),
        metadata_record("general.name", T_STRING, args.name),
        metadata_record("general.file_type", T_UINT32, LLAMA_FTYPE_MOSTLY_F16),
        metadata_record("general.alignment", T_UINT32, ALIGNMENT),
        metadata_record("llama.vocab_size", T_UINT32, vocab.n_vocab),
        metadata_record("llama.context_length", T_UINT32, args.n_ctx),
        metadata_record("llama.embedding_length", T_UINT32, args.n_embd),
        metadata_record("llama.block_count", T_UINT32, args.n_layer),
        metadata_record("llama.feed_forward_length", T_UINT32, args.n_ff),
        metadata_record("llama.attention.head_count", T_UINT32, args.n_head),
        metadata_record("llama.attention.head_count_kv", T_UINT32, args.n_head_kv),
        metadata_record("llama.rope.dimension_count", T_UINT32, head_dim),
        metadata_record("llama.rope.freq_base", T_FLOAT32, args.rope_base),
        metadata_record("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, 1e-5),
    ]
    for key, raw in vocab.tokenizer_records:
        if key == "tokenizer.chat_template" and args.chat_template is not None:
            continue  # replaced below
        records.append(raw)
    if args.chat_template is not None:
        template = CHATML_TEMPLATE if args.chat_template == "chatml" else args.chat_template
        records.append(metadata_record("tokenizer.chat_template", T_STRING, template))

    tensors = build_tensors(args, vocab, WeightSource(args.seed))
    try:
        size = write_gguf(args.out, records, tensors)
    except OSError as err:
        print("make-tiny-model: cannot write %s: %s" % (args.out, err), file=sys.stderr)
        return 1
    n_params = sum(len(t.data) // (2 if t.ggml_type == GGML_TYPE_F16 else 4) for t in tensors)
    print("make-tiny-model: wrote %s (%d bytes, %d parameters, n_vocab=%d n_embd=%d n_layer=%d "
          "n_head=%d n_head_kv=%d n_ff=%d n_ctx=%d%s)"
          % (args.out, size, n_params, vocab.n_vocab, args.n_embd, args.n_layer, args.n_head,
             args.n_head_kv, args.n_ff, args.n_ctx, ", eos allowed" if args.allow_eos else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
