"""PyTorch reference for `recur seq2seq` on grapheme-to-phoneme (CMUdict): the same architecture,
data split, vocabularies and scores, to set beside recur's rate and error rates.

Model (issue 11's reference architecture):
  * encoder: character embedding 64 → 2-layer bidirectional LSTM, 128 per direction, run on
    packed sequences so padding is never read; outputs e_s of width 256;
  * bridge: the top layer's final forward and backward states, concatenated (256), each go
    through a linear layer (with bias) to give the decoder's initial h and c;
  * decoder: phoneme embedding 64 → LSTM cell 256 whose input is [embedding; h̃ of the previous
    step] (input feeding, h̃ = 0 at the first step);
  * Luong `general` attention: score(h_t, e_s) = h_tᵀ W_a e_s (W_a 256×256, no bias), softmax
    over the source with padding masked, context c_t = Σ a_s e_s, attentional vector
    h̃_t = tanh(W_c [c_t; h_t]) (W_c 256×512, no bias), as in OpenNMT's GlobalAttention;
  * output: linear 256 → phoneme vocabulary (with bias);
  * dropout (`--dropout`, default 0.3, as OpenNMT) on both embeddings, between the encoder's
    layers and on h̃ (before the output layer and before it is fed to the next step).
Training: teacher forcing, cross-entropy averaged over target tokens (EOS included, PAD
ignored), Adam lr 1e-3, batch 128, gradient norm clipped to `--clip` (5, OpenNMT's default;
0 turns it off), pairs shuffled every epoch (each pronunciation of a word is one pair).

Data: the CMUdict file with stress digits removed (AH0 → AH), `word(2)` alternates mapped to
their word, `# comment` tails dropped; split by word exactly as recur's `split_by_source` does
(the distinct words in file order, shuffled by recur's SplitMix64 generator seeded with `--seed`,
the first round(5%) to validation), so both tools hold out the same words. Vocabularies are built
from the training part only, ids as recur's `Vocab::build` gives them (PAD 0, SOS 1, EOS 2, UNK 3,
then by count, descending, then by token). Validation chooses nothing: no early stopping.

Scores, as G2P papers give them: WER = share of validation words whose output matches none of
their reference pronunciations; PER = edit distance to the closest reference over its length,
summed over words. Decoding: greedy, and beam search (`--beam`, default 5) with GNMT length
normalisation score = log P / ((5 + |Y|) / 6)^α (`--alpha`, |Y| counting EOS); a word's search
ends once it holds `beam` finished hypotheses (EOS among the top `beam` candidates of a step), or
at 2 × source length + 5 steps. Beam 1 is greedy.

Throughput: training pairs per second of training wall time (batch assembly, forward, backward,
clipping and Adam step); loading, vocabulary building and evaluation excluded. `--max-seconds`
bounds the training time (checked between batches; the epoch in progress then ends early).

On a machine with more runnable work than cores, PyTorch's OpenMP threads spin at every barrier
waiting for a descheduled sibling; `OMP_WAIT_POLICY=PASSIVE` in the environment (before Python
starts) makes them sleep instead. The script leaves PyTorch's defaults alone; say which was used
when quoting a rate.

Install (a virtual environment outside the repository is best):

    pip install "torch==2.*"

Usage (the default data file is cmudict/cmudict-train.dict in shared/data beside the repository,
or beside its parent; `--data` takes that file or its folder):

    python bench/seq2seq_pytorch.py [--data PATH] [--epochs 1] [--threads 2] [--batch 128]
        [--max-seconds 0] [--seed 1] [--dropout 0.3] [--beam 5] [--alpha 0.6] [--no-eval] [--json]
"""
import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ucr_data import default_data_dir  # noqa: E402 (beside this script)

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------- data, as recur-seq2seq reads it


def read_cmudict(path):
    """(word characters, phonemes without stress) pairs in file order; exits naming a bad line."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, start=1):
            body = raw.split("#", 1)[0]
            if not body.strip() or raw.startswith(";;;"):
                continue
            word, *phones = body.split()
            if word.endswith(")") and "(" in word:
                base, n = word[:-1].rsplit("(", 1)
                if base and n.isdigit():
                    word = base
            phones = [p.rstrip("012") for p in phones]
            if not phones or not all(p.isalpha() and p.isupper() for p in phones):
                sys.exit(f"error: {path}:{line_no}: expected `word PH PH ...`")
            pairs.append((list(word.lower()), phones))
    if not pairs:
        sys.exit(f"error: {path}: no pairs")
    return pairs


class SplitMix64:
    """recur_core::Rng, bit for bit, so that the split equals recur's."""

    def __init__(self, seed):
        self.state = (seed ^ 0x853C49E6748FEA9B) & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        u = (self.next_u64() >> 11) * (1.0 / (1 << 53))
        return int(u * n) % max(n, 1)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def split_by_source(pairs, val_fraction, seed):
    """recur_seq2seq::split_by_source: every pair of one source on the same side, file order kept."""
    index = {}
    groups = [index.setdefault(tuple(s), len(index)) for s, _ in pairs]
    n_val = min(len(index), int(math.floor(len(index) * val_fraction + 0.5)))
    order = list(range(len(index)))
    SplitMix64(seed).shuffle(order)
    in_val = set(order[:n_val])
    train = [p for p, g in zip(pairs, groups) if g not in in_val]
    val = [p for p, g in zip(pairs, groups) if g in in_val]
    return train, val


def build_vocab(seqs):
    """recur_seq2seq::Vocab::build with min_count 1: specials, then by count desc, then token."""
    counts = Counter(t for s in seqs for t in s if t not in SPECIALS)
    tokens = SPECIALS + sorted(counts, key=lambda t: (-counts[t], t))
    return tokens, {t: i for i, t in enumerate(tokens)}


def group_by_source(pairs):
    """Each distinct source once (first appearance order) with all its references."""
    groups = {}
    for s, t in pairs:
        groups.setdefault(tuple(s), []).append(t)
    return list(groups.items())


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a):
        row = [i + 1]
        for j, y in enumerate(b):
            row.append(min(prev[j] + (x != y), prev[j + 1] + 1, row[j] + 1))
        prev = row
    return prev[-1]


def g2p_scores(hyps, groups):
    """WER and PER over words (recur_seq2seq::score): any reference right, closest for PER."""
    wrong = edits = length = 0
    for hyp, (_, refs) in zip(hyps, groups):
        d, n = min(((edit_distance(hyp, r), len(r)) for r in refs), key=lambda x: x[0])
        wrong += d != 0
        edits += d
        length += n
    return {"wer": wrong / len(groups), "per": edits / max(length, 1)}


def pad(seqs, extra_front=None, extra_back=None):
    """A [batch, max_len] LongTensor of id lists, optionally with SOS in front / EOS behind."""
    seqs = [([extra_front] if extra_front is not None else []) + s + ([extra_back] if extra_back is not None else []) for s in seqs]
    out = torch.full((len(seqs), max(map(len, seqs))), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


# ---------------------------------------------------------------- model


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, emb=64, enc=128, layers=2, dec=256, dropout=0.3):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=PAD)
        self.encoder = nn.LSTM(emb, enc, num_layers=layers, bidirectional=True, batch_first=True, dropout=dropout)
        self.bridge_h = nn.Linear(2 * enc, dec)
        self.bridge_c = nn.Linear(2 * enc, dec)
        self.cell = nn.LSTMCell(emb + dec, dec)
        self.attn_in = nn.Linear(2 * enc, dec, bias=False)  # W_a, applied to the encoder outputs once
        self.attn_out = nn.Linear(2 * enc + dec, dec, bias=False)  # W_c on [c_t; h_t]
        self.out = nn.Linear(dec, tgt_vocab)
        self.drop = nn.Dropout(dropout)
        self.dec = dec

    def encode(self, src, lengths):
        """Encoder outputs [B, S, 2·enc], their keys W_a·e_s, the source mask, initial (h, c)."""
        x = self.drop(self.src_emb(src))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        # h_n: [layers·2, B, enc]; the last two rows are the top layer's forward and backward.
        h0 = self.bridge_h(torch.cat([h_n[-2], h_n[-1]], dim=1))
        c0 = self.bridge_c(torch.cat([c_n[-2], c_n[-1]], dim=1))
        mask = src != PAD
        return out, self.attn_in(out), mask, (h0, c0)

    def step(self, y, state, feed, memory, keys, mask):
        """One decoder step: previous token ids y [B], state (h, c), previous h̃ → h̃, new state, weights."""
        h, c = self.cell(torch.cat([self.drop(self.tgt_emb(y)), feed], dim=1), state)
        scores = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        attentional = self.drop(torch.tanh(self.attn_out(torch.cat([context, h], dim=1))))
        return attentional, (h, c), weights

    def forward(self, src, lengths, tgt_in):
        """Logits [B, T, V] under teacher forcing."""
        memory, keys, mask, state = self.encode(src, lengths)
        feed = memory.new_zeros(src.size(0), self.dec)
        outs = []
        for t in range(tgt_in.size(1)):
            feed, state, _ = self.step(tgt_in[:, t], state, feed, memory, keys, mask)
            outs.append(feed)
        return self.out(torch.stack(outs, dim=1))


# ---------------------------------------------------------------- decoding


def lp(length, alpha):
    """GNMT length penalty."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model, src, lengths, beam, alpha):
    """Best hypothesis (token ids, EOS excluded) per source, batched over sources × beams."""
    b_size = src.size(0)
    memory, keys, mask, (h, c) = model.encode(src, lengths)
    rows = torch.arange(b_size).repeat_interleave(beam)
    memory, keys, mask, h, c = memory[rows], keys[rows], mask[rows], h[rows], c[rows]
    feed = memory.new_zeros(b_size * beam, model.dec)
    y = torch.full((b_size * beam,), SOS, dtype=torch.long)
    scores = torch.full((b_size, beam), float("-inf"))
    scores[:, 0] = 0.0  # one live hypothesis at first, so the beams start different
    history = [[] for _ in range(b_size * beam)]
    finished = [[] for _ in range(b_size)]
    done = [False] * b_size
    max_steps = 2 * int(lengths.max()) + 5
    for step in range(max_steps):
        feed, (h, c), _ = model.step(y, (h, c), feed, memory, keys, mask)
        logp = torch.log_softmax(model.out(feed), dim=1)
        vocab = logp.size(1)
        total = (scores.view(-1, 1) + logp).view(b_size, beam * vocab)
        top_s, top_i = total.topk(2 * beam, dim=1)
        top_s, top_i = top_s.tolist(), top_i.tolist()
        src_rows, tokens, new_scores, new_history = [], [], [], []
        for b in range(b_size):
            alive = []
            if not done[b]:
                for rank, (s, i) in enumerate(zip(top_s[b], top_i[b])):
                    row, tok = b * beam + i // vocab, i % vocab
                    if s == float("-inf"):
                        break
                    if tok == EOS:
                        if rank < beam:
                            finished[b].append((s / lp(step + 1, alpha), history[row]))
                    elif len(alive) < beam:
                        alive.append((row, tok, s))
                    if len(alive) == beam and rank >= beam - 1:
                        break
                done[b] = len(finished[b]) >= beam or not alive
            if done[b]:
                alive = [(b * beam, PAD, float("-inf"))] * beam
            alive += [(alive[0][0], PAD, float("-inf"))] * (beam - len(alive))
            for row, tok, s in alive:
                src_rows.append(row)
                tokens.append(tok)
                new_scores.append(s)
                new_history.append(history[row] + [tok])
        if all(done):
            break
        index = torch.tensor(src_rows)
        h, c, feed = h[index], c[index], feed[index]
        y = torch.tensor(tokens)
        scores = torch.tensor(new_scores).view(b_size, beam)
        history = new_history
    best = []
    for b in range(b_size):
        if not done[b]:  # ran out of steps: the live hypotheses compete, unfinished
            live = [(scores[b, k].item(), history[b * beam + k]) for k in range(beam)]
            finished[b] += [(s / lp(len(hist), alpha), hist) for s, hist in live if s != float("-inf")]
        best.append(max(finished[b], key=lambda x: x[0])[1])
    return best


def decode_all(model, groups, src_ids, beam, alpha, batch=256):
    model.eval()
    srcs = [[src_ids.get(t, UNK) for t in s] for s, _ in groups]
    hyps = []
    for i in range(0, len(srcs), batch):
        chunk = srcs[i : i + batch]
        hyps += beam_search(model, pad(chunk), torch.tensor([len(s) for s in chunk]), beam, alpha)
    return hyps


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="cmudict-train.dict, or the folder holding it")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-seconds", type=float, default=0, help="bound on training time (0: none)")
    ap.add_argument("--seed", type=int, default=1, help="split, initialisation and shuffling")
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--clip", type=float, default=5.0, help="gradient norm clip (0: none)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=0.6, help="GNMT length normalisation")
    ap.add_argument("--no-eval", action="store_true", help="measure training only")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()

    path = args.data or os.path.join(default_data_dir(), "cmudict")
    if os.path.isdir(path):
        path = os.path.join(path, "cmudict-train.dict")
    if not os.path.isfile(path):
        sys.exit(f"error: {path} is absent (see shared/data/cmudict/README.md)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    train, val = split_by_source(read_cmudict(path), args.val_fraction, args.seed)
    src_tokens, src_ids = build_vocab(s for s, _ in train)
    tgt_tokens, tgt_ids = build_vocab(t for _, t in train)
    data = [([src_ids[c] for c in s], [tgt_ids[p] for p in t]) for s, t in train]
    groups = group_by_source(val)
    model = Seq2Seq(len(src_tokens), len(tgt_tokens), dropout=args.dropout)
    params = sum(p.numel() for p in model.parameters())
    log(f"{len(train)} training pairs, {len(groups)} validation words, vocab {len(src_tokens)}→{len(tgt_tokens)}, {params} parameters")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    shuffle = random.Random(args.seed)

    seen, train_seconds, epochs_run, loss_sum, loss_n = 0, 0.0, 0, 0.0, 0
    out_of_time = False
    for epoch in range(args.epochs):
        model.train()
        order = list(range(len(data)))
        shuffle.shuffle(order)
        start = time.perf_counter()
        for i in range(0, len(order), args.batch):
            chunk = [data[k] for k in order[i : i + args.batch]]
            src = pad([s for s, _ in chunk])
            lengths = torch.tensor([len(s) for s, _ in chunk])
            tgt_in = pad([t for _, t in chunk], extra_front=SOS)
            tgt_out = pad([t for _, t in chunk], extra_back=EOS)
            opt.zero_grad()
            logits = model(src, lengths, tgt_in)
            loss = loss_fn(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1))
            loss.backward()
            if args.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            seen += len(chunk)
            loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
            if args.max_seconds and train_seconds + time.perf_counter() - start >= args.max_seconds:
                out_of_time = True
                break
        train_seconds += time.perf_counter() - start
        epochs_run += 1
        log(f"epoch {epoch + 1}: loss {loss_sum / max(loss_n, 1):.4f}, {seen / train_seconds:.0f} pairs/s over {train_seconds:.0f} s")
        loss_sum, loss_n = 0.0, 0
        if out_of_time:
            break

    result = {
        "data": os.path.basename(path),
        "threads": args.threads,
        "batch": args.batch,
        "seed": args.seed,
        "dropout": args.dropout,
        "parameters": params,
        "train_pairs": len(train),
        "val_words": len(groups),
        "epochs": epochs_run,
        "last_epoch_complete": not out_of_time,
        "pairs_seen": seen,
        "train_seconds": round(train_seconds, 2),
        "pairs_per_second": round(seen / train_seconds, 1),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    for name, width in [] if args.no_eval else [("greedy", 1), (f"beam{args.beam}", args.beam)]:
        start = time.perf_counter()
        hyps = decode_all(model, groups, src_ids, width, args.alpha)
        scores = g2p_scores([[tgt_tokens[i] for i in h] for h in hyps], groups)
        scores["seconds"] = round(time.perf_counter() - start, 2)
        result[name] = scores
        log(f"{name}: WER {scores['wer']:.2%}, PER {scores['per']:.2%} ({scores['seconds']} s)")
    result["alpha"] = args.alpha
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
