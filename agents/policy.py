"""The actor: any Hugging Face causal LM, batched sampling with exact token ids and log-probs.

One utterance per observation. The prompt is the observation text, or with a chat template the messages of
``archer_gym.chat.observation_messages`` (system: the instruction, user: the rest of the observation);
generation stops at the first token whose text contains "\\n", or at EOS, and that stop token is kept
in the sampled ids so that re-scoring (`Actor.log_probs`) trains on exactly what was sampled.

Log-prob convention: `SampleOutput.log_probs` and `Actor.log_probs` are the model's own
`log_softmax(logits)` at temperature 1, i.e. log pi_theta(a_t | s, a_<t), whatever temperature /
top-k / top-p shaped the sampling distribution. That is the policy being trained; with
temperature 1 and no top-k / top-p it is also the behaviour policy, so importance ratios start at 1.
With other settings the samples are mildly off-policy and the caller decides whether to correct.
"""

from __future__ import annotations

import copy
import inspect
import json
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archer_gym.chat import observation_messages
from agents.batching import join_runs, length_chunks

try:  # transformers >= 4.56: a DynamicCache is a list of layers, each with its own keys and values
    from transformers.cache_utils import DynamicCache, DynamicLayer
except ImportError:  # older transformers: no prefix reuse (sampling is the same, only slower)
    DynamicCache = DynamicLayer = None


@dataclass
class SampleOutput:
    """What `Actor.sample` returns, one entry per observation.

    texts: decoded utterance (text before the first newline, EOS removed, stripped).
    action_ids: sampled token ids, including the stop token ("\\n"-token or EOS) when one was produced.
    log_probs: `[len(action_ids[i])]` float32 log pi(a_t | ...) at temperature 1 (see module doc).
    prompt_ids: the (truncated) prompt token ids the actor conditioned on.
    """

    texts: list[str]
    action_ids: list[list[int]]
    log_probs: list[Tensor]
    prompt_ids: list[list[int]]


@dataclass
class TokenScores:
    """Re-scored action tokens, left-aligned: column t is the t-th action token.

    logp: `[B, T]` log pi(a_t | ...) (0 where masked), differentiable.
    mask: `[B, T]` bool, True on real action tokens.
    entropy: `[B, T]` entropy of pi(. | ...) at each action position (0 where masked).
    """

    logp: Tensor
    mask: Tensor
    entropy: Tensor


def split_observation(observation: str) -> tuple[str, list[str]]:
    """Split an observation into (instruction, history lines).

    The instruction is the text up to the first "\\n\\n"; each history line keeps its "\\n", so
    `instruction + "\\n\\n" + "".join(lines) == observation` when there is a history.
    """
    if "\n\n" not in observation:
        return observation, []
    instruction, history = observation.split("\n\n", 1)
    return instruction, history.splitlines(keepends=True)


def _template_takes_system_role(tokenizer) -> bool:
    """Whether the tokenizer's chat template renders a system message (Gemma's and some others raise on one)."""
    probe = [{"role": "system", "content": "archer-system-probe"}, {"role": "user", "content": "u"}]
    try:
        text = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception:  # jinja2's TemplateError, or whatever a template raises on a role it refuses
        return False
    return isinstance(text, str) and "archer-system-probe" in text  # some templates drop it silently


def token_entropy(logits: Tensor) -> Tensor:
    """Entropy of softmax(logits) over the last dim: `[..., V] -> [...]`, in float32."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def filter_logits(logits: Tensor, *, temperature: float, top_k: int, top_p: float) -> Tensor:
    """Sampling distribution logits: `[B, V] -> [B, V]`, excluded tokens set to -inf."""
    logits = logits / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the mass before it already reaches top_p; the top token always stays.
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def draw(probs: Tensor, generator: torch.Generator | None = None, uniform: Tensor | None = None) -> Tensor:
    """One token per row of ``probs`` `[B, V]`, by inverting its cumulative distribution at a uniform draw (``uniform``
    `[B]` in [0, 1), else drawn from ``generator``): token i with probability probs[i] / sum(probs), never a token of
    probability 0. The same distribution as ``torch.multinomial(probs, 1)``, at a fraction of its cost on a CPU (a
    batch of 32 over 1,024 tokens: 39 us against 765 us, one thread), where multinomial was 5% of a batched rollout's
    time. Cumulative sums in float64, so a large vocabulary's tail keeps its probabilities."""
    cdf = probs.double().cumsum(-1)
    if uniform is None:
        uniform = torch.rand(probs.shape[0], generator=generator, dtype=torch.float64, device=probs.device)
    u = uniform.to(device=probs.device, dtype=torch.float64)[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_(max=probs.shape[-1] - 1)


def output_cache(out):
    """The KV cache a model's output carries (``cache`` in transformers 5, ``past_key_values`` before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def pad_ids(seqs: list[list[int]], pad_id: int, device: torch.device, side: str = "left") -> tuple[Tensor, Tensor]:
    """Pad id lists on ``side`` ("left": the actor's batches; "right": the critic's, positions 0..n-1 whatever the
    batch): returns (ids `[B, L]`, attention mask `[B, L]` long), L the longest list."""
    length = max(len(s) for s in seqs) if seqs else 0
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            cols = slice(length - len(s), length) if side == "left" else slice(0, len(s))
            ids[i, cols] = torch.tensor(s, dtype=torch.long)
            mask[i, cols] = 1
    return ids.to(device), mask.to(device)


def left_pad(seqs: list[list[int]], pad_id: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Left-pad id lists: returns (ids `[B, L]`, attention mask `[B, L]` long)."""
    return pad_ids(seqs, pad_id, device, "left")


def positions_from_mask(mask: Tensor) -> Tensor:
    """Position ids for a left-padded batch: cumsum(mask) - 1, clamped at 0 on the padding."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def newline_token_ids(tokenizer) -> set[int]:
    """Every token id whose decoded text contains "\\n" (computed once from the vocabulary)."""
    ids = list(range(len(tokenizer)))
    texts = tokenizer.batch_decode([[i] for i in ids], skip_special_tokens=False)
    return {i for i, text in zip(ids, texts) if "\n" in text}


#: Part of the cache keys of what the sampler produces (agents.start: the start data and the critic warmed up on it):
#: bump when the sampler draws differently for the same seed (2: draws by inverse CDF instead of torch.multinomial,
#: each row's uniforms drawn up front, so a row's sample does not depend on its batch-mates or the runs).
SAMPLER_VERSION = 2

#: A sampling call whose every prompt extends a kept sequence by at most this many tokens (a turn of dialogue) runs
#: as one batch rather than in micro-batches (see ``Actor.sample``).
CONTINUATION_TOKENS = 64


class PrefixStore:
    """Keys and values of the sequences the last sampling call ran (each prompt and the utterance sampled after it),
    so the next call prefills a prompt only from where it leaves the longest of them it starts with.

    In a multi-turn episode the next observation is the last one plus the utterance and the env's reply, so its prompt
    extends a kept sequence and only the new turn's tokens are encoded, instead of the whole dialogue again (on the
    tiny default, the prompt's prefill was half of a batched rollout's model time; ``bench/rollout_throughput.py``
    measures the gain). Reuse is exact: the kept tokens must equal the prompt's token for token from its start, and
    their keys and values were computed at the same positions by the same weights; only the batch they were computed
    in differs, which changes float rounding, not the math (tests/test_policy.py holds sampled tokens equal with
    and without it). The store is emptied when any weight has changed since it was filled (a parameter's version
    counter moves on every in-place update: optimizer steps, ``load_state_dict``); a write through ``param.data``
    bypasses that counter, so call :meth:`Actor.forget_prefixes` after one. Only plain ``DynamicCache`` models keep
    prefixes (a sliding-window or recurrent cache cannot be cut and joined this way).
    """

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.ids: list[Tensor] = []  # token ids of each kept sequence (CPU)
        self.kv: list[list[tuple[Tensor, Tensor]]] = []  # per sequence, per layer: keys, values `[heads, len, dim]`
        self.weights = None  # the weights' versions the store was filled with

    def __deepcopy__(self, memo):  # a copied actor (a frozen reference, a target) starts with an empty store
        return PrefixStore()

    def match(self, prompts: list[list[int]]) -> list[tuple[int, int]]:
        """Per prompt: (index of the kept sequence sharing its longest prefix, that prefix's length), the length at
        most len(prompt) - 1 (the last prompt token is always fed, for the next token's logits); (-1, 0) if none."""
        if not self.ids:
            return [(-1, 0)] * len(prompts)
        kept = nn.utils.rnn.pad_sequence(self.ids, batch_first=True, padding_value=-1)  # [E, L]
        res = []
        for p in prompts:
            n = min(len(p), kept.shape[1])
            same = kept[:, :n] == torch.tensor(p[:n], dtype=kept.dtype)  # [E, n]
            lcp = same.long().cumprod(1).sum(1)  # [E]: tokens equal from the start
            best = int(lcp.argmax())
            length = min(int(lcp[best]), len(p) - 1)
            res.append((best, length) if length > 0 else (-1, 0))
        return res


class LineTokens:
    """Token ids of a text as the concatenation of its lines' ids, each line tokenized once and kept.

    Exact for a tokenizer that cannot join tokens across a newline: a fast tokenizer with no normalizer, whose
    pre-tokenizer first isolates "\\n" (``Split("\\n", "isolated")``, as the tiny default's, agents.tiny), that adds
    no special tokens and has no added token that holds or strips a newline. :meth:`of` returns None for any other
    tokenizer (the caller tokenizes the whole text). An observation is the previous turn's plus a line or two, so
    an episode's prompts tokenize one new line per turn instead of the whole dialogue again (issue 19: tokenizing
    took about a tenth of a batched rollout's CPU time). At most ``max_lines`` lines are kept; the store then
    starts over.
    """

    def __init__(self, tokenizer, max_lines: int = 100_000):
        self.tokenizer, self.max_lines = tokenizer, max_lines
        self.lines: dict[str, list[int]] = {}
        self.exact = self._exact(tokenizer)

    def __deepcopy__(self, memo):  # a copied actor starts with an empty store over its own copy of the tokenizer
        new = copy.copy(self)  # the same tokenizer, so the same `exact` (not read again from its JSON)
        new.tokenizer, new.lines = copy.deepcopy(self.tokenizer, memo), {}
        return new

    @staticmethod
    def _exact(tokenizer) -> bool:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return False
        try:
            spec = json.loads(backend.to_str())
        except Exception:  # a backend that cannot describe itself: take the safe path
            return False
        pre = spec.get("pre_tokenizer") or {}
        first = (pre.get("pretokenizers") or [None])[0] if pre.get("type") == "Sequence" else pre
        splits_lines = (isinstance(first, dict) and first.get("type") == "Split"
                        and first.get("pattern") in ({"Regex": "\n"}, {"String": "\n"})
                        and first.get("behavior") == "Isolated" and not first.get("invert"))
        added_ok = all("\n" not in t.get("content", "") and not t.get("lstrip") and not t.get("rstrip")
                       for t in spec.get("added_tokens") or [])
        no_specials = tokenizer("x\ny")["input_ids"] == tokenizer("x\ny", add_special_tokens=False)["input_ids"]
        return bool(splits_lines and spec.get("normalizer") is None and added_ok and no_specials)

    def of(self, text: str) -> list[int] | None:
        """The ids ``tokenizer(text)["input_ids"]`` would give, or None when the tokenizer is not line-exact."""
        if not self.exact:
            return None
        parts = text.split("\n")
        segments = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        missing = [seg for seg in dict.fromkeys(segments) if seg not in self.lines]
        if missing:
            if len(self.lines) + len(missing) > self.max_lines:
                self.lines.clear()
            for seg, ids in zip(missing, self.tokenizer(missing, add_special_tokens=False)["input_ids"]):
                self.lines[seg] = ids
        out: list[int] = []
        for seg in segments:
            out += self.lines[seg]
        return out


def weights_version(model: nn.Module) -> tuple:
    """Changes whenever any parameter is updated in place (optimizer steps, ``load_state_dict``)."""
    return (id(model), tuple(p._version for p in model.parameters()))


def cache_layers(cache) -> list | None:
    """The layers of a plain ``DynamicCache`` (each with ``keys`` / ``values`` `[B, heads, len, dim]`), else None."""
    if DynamicCache is None or type(cache) is not DynamicCache:
        return None
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or layer.keys is None for layer in layers):
        return None
    return layers


class Actor(nn.Module):
    """Token-level policy over any `AutoModelForCausalLM` and its tokenizer.

    Args:
        model: the causal LM (its device is used for everything).
        tokenizer: its tokenizer; set to left padding, pad token defaults to EOS.
        max_prompt_tokens: prompts are cut to this many tokens, dropping the oldest history lines
            first and never the instruction (unless it alone is too long).
        max_new_tokens: cap on sampled tokens per utterance (stop token included).
        chat_template: render the observation through the tokenizer's chat template as
            ``archer_gym.chat.observation_messages`` lays it out (system: the instruction, the env's own system
            message; user: the rest) (True), never (False), or when the tokenizer has one ("auto": chat /
            instruct models). A template that refuses a system role gets the observation as one user message.
        micro_batch: rows per length-sorted pass of ``sample`` and ``score`` (agents.batching; 0: the whole batch).
        prefix_cache_rows: the rows of the last ``sample`` call whose keys and values are kept, so that the next
            call prefills each prompt only from where it leaves the longest kept sequence it starts with
            (:class:`PrefixStore`; 0: off). A call with more rows keeps nothing new.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        max_prompt_tokens: int = 256,
        max_new_tokens: int = 24,
        chat_template: bool | str = False,
        micro_batch: int = 0,
        prefix_cache_rows: int = 128,
    ):
        super().__init__()
        self.micro_batch = micro_batch  # rows per length-sorted pass in sample / score (agents.batching; 0: all)
        if prefix_cache_rows < 0:
            raise ValueError(f"prefix_cache_rows={prefix_cache_rows} must be >= 0 (0: no prefix reuse)")
        self.prefix_cache_rows = prefix_cache_rows
        self._prefixes = PrefixStore()
        if max_prompt_tokens < 1 or max_new_tokens < 1:
            raise ValueError(
                f"max_prompt_tokens={max_prompt_tokens} and max_new_tokens={max_new_tokens} must be >= 1"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_prompt_tokens = max_prompt_tokens
        self.max_new_tokens = max_new_tokens
        if chat_template == "auto":
            chat_template = bool(getattr(tokenizer, "chat_template", None))
        elif chat_template and not getattr(tokenizer, "chat_template", None):
            raise ValueError("chat_template=True but the tokenizer has no chat template; use 'auto' or False")
        self.chat_template = bool(chat_template)
        self._system_role = self.chat_template and _template_takes_system_role(tokenizer)
        self.stop_ids = newline_token_ids(tokenizer) | self._eos_ids()
        # transformers 5 renamed `past_key_values` to `cache` (deprecated alias until 5.40); older
        # or remote-code models still take `past_key_values`. Ask the signature once.
        # A peft wrapper's forward takes **kwargs: ask the wrapped transformers model.
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        params = inspect.signature(inner.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self._keeps_logits = "logits_to_keep" in params
        self._warned_instruction_cut = False
        self._lines = LineTokens(tokenizer)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
        return {i for i in ids if i is not None}

    # ---- prompts -------------------------------------------------------------------------------

    def _render(self, observation: str) -> list[int]:
        """Token ids of one (already shortened) observation, with template / special tokens."""
        if not self.chat_template:
            ids = self._lines.of(observation)
            if ids is None:
                ids = self.tokenizer(observation)["input_ids"]
        else:
            # The same system message as the env's chat messages (archer_gym.chat): the instruction, then the rest
            # of the observation as the user's turn; one user message for a template without a system role.
            messages = observation_messages(observation) if self._system_role else [{"role": "user", "content": observation}]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            # The template already holds BOS and friends: do not add them twice.
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        # A causal LM needs one token to condition on: an empty prompt becomes [BOS or EOS].
        if not ids:
            bos = self.tokenizer.bos_token_id
            ids = [bos if bos is not None else self.tokenizer.eos_token_id]
        return ids

    def _prompt_ids(self, observation: str) -> list[int]:
        ids = self._render(observation)
        if len(ids) <= self.max_prompt_tokens:
            return ids
        instruction, lines = split_observation(observation)

        def shortened(k: int) -> str:  # keep the instruction and history lines[k:]
            return instruction + "\n\n" + "".join(lines[k:])

        # Smallest number of dropped oldest lines that fits; token count falls as k grows, so
        # binary search over k re-tokenises O(log lines) times instead of once per line.
        lo, hi = 1, len(lines)
        if lines and len(self._render(shortened(hi))) <= self.max_prompt_tokens:
            while lo < hi:
                mid = (lo + hi) // 2
                if len(self._render(shortened(mid))) <= self.max_prompt_tokens:
                    hi = mid
                else:
                    lo = mid + 1
            return self._render(shortened(hi))
        return self._cut_instruction(instruction + ("\n\n" if lines else ""))

    def _cut_instruction(self, instruction: str) -> list[int]:
        """Last resort: keep the head of an instruction that alone exceeds max_prompt_tokens."""
        if not self._warned_instruction_cut:
            warnings.warn(
                f"instruction alone exceeds max_prompt_tokens={self.max_prompt_tokens}; its tail is "
                "cut. Raise max_prompt_tokens to keep the whole task description.",
                stacklevel=4,
            )
            self._warned_instruction_cut = True
        if not self.chat_template:
            return self._render(instruction)[: self.max_prompt_tokens]
        # With a template the tail holds the generation prompt: shorten the text inside instead.
        inner = self.tokenizer(instruction, add_special_tokens=False)["input_ids"]
        keep = len(inner)
        while keep > 0:
            ids = self._render(self.tokenizer.decode(inner[:keep]))
            if len(ids) <= self.max_prompt_tokens:
                return ids
            keep -= max(1, len(ids) - self.max_prompt_tokens)
        return self._render("")[-self.max_prompt_tokens :]

    def build_prompt_ids(self, observations: list[str]) -> list[list[int]]:
        """Prompt token ids per observation, each at most `max_prompt_tokens` long."""
        return [self._prompt_ids(obs) for obs in observations]

    # ---- acting --------------------------------------------------------------------------------

    def _forward(self, ids: Tensor, mask: Tensor, cache=None):
        return self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions_from_mask(mask)[:, -ids.shape[1] :],
            use_cache=True,
            # Only the last position's logits are read while sampling.
            **({"logits_to_keep": 1} if self._keeps_logits else {}),
            **{self._cache_kwarg: cache},
        )

    def sample(
        self,
        observations: list[str],
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> SampleOutput:
        """Sample one utterance per observation with a KV-cached loop over a left-padded batch (length-sorted runs
        of ``micro_batch`` rows, agents.batching).

        Runs in eval mode under inference_mode; the model's train/eval mode is restored after.
        Finished rows keep being fed the pad token with attention mask 0, so they never influence
        the others and a row's result does not depend on its batch-mates.
        """
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} must be > 0; use greedy=True for argmax")
        prompt_ids = self.build_prompt_ids(observations)
        action_ids: list[list[int]] = [[] for _ in observations]
        log_probs: list[Tensor] = [torch.zeros(0) for _ in observations]
        reuse = self._prefix_store()
        found = reuse.match(prompt_ids) if reuse is not None else [(-1, 0)] * len(prompt_ids)
        keep = PrefixStore() if 0 < len(observations) <= self.prefix_cache_rows else None
        # Length-sorted micro-batches keep a batch from padding every row to its longest prompt. Rows that all
        # continue kept sequences by a turn's worth of tokens pad little, and there one pass is faster: a batched
        # rollout of 64 Twenty Questions episodes spent 1.6-1.8 s sampling as one batch of 32, 2.5-2.7 s as two
        # runs of 16; 256 replay states (no continuation) 6 s in runs of 16, 15-18 s as one batch.
        continuing = all(n > 0 and len(p) - n <= CONTINUATION_TOKENS for p, (_, n) in zip(prompt_ids, found))
        runs = [list(range(len(prompt_ids)))] if continuing else length_chunks([len(p) for p in prompt_ids],
                                                                                 self.micro_batch)
        # Every row's uniform draws, one per token it may sample, taken before the rows are split into runs: what a
        # row samples then depends on its prompt and the generator's state, not on which rows share its run (so not
        # on the kept prefixes either, which decide the runs; a resumed run, whose store starts empty, samples what
        # the uninterrupted one did).
        uniforms = None if greedy else torch.rand(
            (len(prompt_ids), self.max_new_tokens), generator=generator, dtype=torch.float64,
            device=generator.device if generator is not None else "cpu")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for run in runs:
                    tokens, logps, lengths = self._sample_loop(
                        [prompt_ids[i] for i in run], temperature, top_k, top_p, greedy,
                        reuse, [found[i] for i in run], keep, None if uniforms is None else uniforms[run],
                    )
                    for j, i in enumerate(run):
                        action_ids[i] = tokens[j, : lengths[j]].tolist()
                        log_probs[i] = logps[j, : lengths[j]].clone()
        finally:
            self.model.train(was_training)
        if keep is not None and keep.ids:
            keep.weights = weights_version(self.model)
            self._prefixes = keep
        texts = [self._decode_utterance(ids) for ids in action_ids]
        return SampleOutput(texts, action_ids, log_probs, prompt_ids)

    def forget_prefixes(self) -> None:
        """Drop the kept prefixes (:class:`PrefixStore`): needed only after writing weights through ``.data``."""
        self._prefixes.clear()

    def _prefix_store(self) -> PrefixStore | None:
        """The kept prefixes if they were computed by the current weights (else emptied), None when off."""
        if not self.prefix_cache_rows:
            return None
        if self._prefixes.ids and self._prefixes.weights != weights_version(self.model):
            self._prefixes.clear()
        return self._prefixes

    def _prefill(self, prompt_ids: list[list[int]], reuse: PrefixStore | None, found: list[tuple[int, int]]):
        """The first forward of a sampling run: returns (model output, ids `[B, L]`, attention mask `[B, L]`) where
        ids and mask cover every position the cache holds. Without reuse, the left-padded prompts. With it, each
        prompt's longest kept prefix (``found``: :meth:`PrefixStore.match`) comes from ``reuse`` (left-padded to the
        longest such prefix) and only its
        remaining tokens are fed (left-padded after it); positions follow from the mask as always, so a row sees the
        same positions as in a plain prefill."""
        device, pad_id = self.device, self.tokenizer.pad_token_id
        past = max((n for _, n in found), default=0)
        if past == 0:
            ids, mask = left_pad(prompt_ids, pad_id, device)
            return self._forward(ids, mask), ids, mask
        batch = len(prompt_ids)
        past_ids = torch.full((batch, past), pad_id, dtype=torch.long)
        past_mask = torch.zeros((batch, past), dtype=torch.long)
        layers = []
        for li, (k0, v0) in enumerate(reuse.kv[next(e for e, n in found if n)]):
            keys = k0.new_zeros((batch, k0.shape[0], past, k0.shape[2]))
            values = v0.new_zeros((batch, v0.shape[0], past, v0.shape[2]))
            for j, (e, n) in enumerate(found):
                if n:
                    keys[j, :, past - n:] = reuse.kv[e][li][0][:, :n]
                    values[j, :, past - n:] = reuse.kv[e][li][1][:, :n]
            layers.append((keys, values))
        for j, (e, n) in enumerate(found):
            if n:
                past_ids[j, past - n:] = reuse.ids[e][:n]
                past_mask[j, past - n:] = 1
        new_ids, new_mask = left_pad([p[n:] for p, (_, n) in zip(prompt_ids, found)], pad_id, device)
        mask = torch.cat([past_mask.to(device), new_mask], 1)
        out = self._forward(new_ids, mask, DynamicCache(ddp_cache_data=layers))
        return out, torch.cat([past_ids.to(device), new_ids], 1), mask

    def _sample_loop(self, prompt_ids, temperature, top_k, top_p, greedy, reuse, found, keep, uniforms):
        """Returns (tokens `[B, T]`, log-probs `[B, T]`, lengths list) with T <= max_new_tokens. Prefills from
        ``reuse``'s prefixes as ``found`` says, adds this run's sequences to ``keep`` (:class:`PrefixStore`, if not
        None), and samples token t of row j at ``uniforms[j, t]`` (None when greedy)."""
        device = self.device
        pad_id = self.tokenizer.pad_token_id
        stop = torch.tensor(sorted(self.stop_ids), dtype=torch.long, device=device)
        out, seq, mask = self._prefill(prompt_ids, reuse, list(found))
        batch = seq.shape[0]
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)
        tokens, logps = [], []
        for step in range(self.max_new_tokens):
            logits = out.logits[:, -1].float()  # [B, V]
            if greedy:
                token = logits.argmax(-1)
            else:
                probs = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
                token = draw(probs, uniform=uniforms[:, step])
            logp = F.log_softmax(logits, -1).gather(-1, token[:, None]).squeeze(-1)
            active = ~done
            token = token.masked_fill(done, pad_id)
            tokens.append(token)
            logps.append(logp.masked_fill(done, 0.0))
            lengths += active.long()
            done = done | torch.isin(token, stop)
            if bool(done.all()):
                break
            # A fed token is visible only if its row was still generating when it was sampled.
            mask = torch.cat([mask, active.long()[:, None]], dim=1)
            seq = torch.cat([seq, token[:, None]], dim=1)
            out = self._forward(token[:, None], mask, output_cache(out))
        if keep is not None:
            self._keep(keep, seq, mask, output_cache(out))
        return torch.stack(tokens, 1), torch.stack(logps, 1), lengths.tolist()

    def _keep(self, keep: PrefixStore, seq: Tensor, mask: Tensor, cache) -> None:
        """Add each row's visible sequence (the positions its mask holds) and its keys and values to ``keep``."""
        layers = cache_layers(cache)
        if layers is None or layers[0].keys.shape[2] != mask.shape[1]:
            return
        for j in range(seq.shape[0]):
            real = mask[j].nonzero().squeeze(1)  # once per row, not once per layer's keys and values
            keep.ids.append(seq[j].index_select(0, real).cpu())
            keep.kv.append([(layer.keys[j].index_select(1, real), layer.values[j].index_select(1, real))
                            for layer in layers])

    def _decode_utterance(self, action_ids: list[int]) -> str:
        # Decode everything, then cut at the first newline: a merged stop token such as ".\n"
        # still contributes its text before the newline.
        text = self.tokenizer.decode(action_ids, skip_special_tokens=True)
        return text.split("\n", 1)[0].strip()

    # ---- learning ------------------------------------------------------------------------------

    def score(self, prompt_ids: list[list[int]], action_ids: list[list[int]]) -> TokenScores:
        """Re-score exactly `action_ids` after `prompt_ids`, with grad: one forward pass per length-sorted run of
        ``micro_batch`` rows (agents.batching), rows back in their order, padded to the batch's longest action.
        See `_score_run`."""
        if len(prompt_ids) != len(action_ids):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(action_ids)} actions")
        runs = length_chunks([len(p) + len(a) for p, a in zip(prompt_ids, action_ids)], self.micro_batch)
        if len(runs) == 1:
            return self._score_run(prompt_ids, action_ids)
        parts = [self._score_run([prompt_ids[i] for i in run], [action_ids[i] for i in run]) for run in runs]
        return TokenScores(logp=join_runs([p.logp for p in parts], runs),
                           mask=join_runs([p.mask for p in parts], runs, False),
                           entropy=join_runs([p.entropy for p in parts], runs))

    def _score_run(self, prompt_ids: list[list[int]], action_ids: list[list[int]]) -> TokenScores:
        """Re-score exactly `action_ids` after `prompt_ids`, with grad, in one forward pass.

        Uses the model's current mode (call `.train()` / `.eval()` yourself). Shapes `[B, T]` with
        T = longest action; the left-padded prompt+action batch uses positions cumsum(mask) - 1,
        the same as `sample`, so the numbers match the sampled log-probs.
        """
        if len(prompt_ids) != len(action_ids):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(action_ids)} actions")
        device = self.device
        n_act = torch.tensor([len(a) for a in action_ids], device=device)
        width = int(n_act.max()) if action_ids else 0
        if width == 0:  # nothing to score
            empty = torch.zeros((len(action_ids), 0), device=device)
            return TokenScores(logp=empty, mask=empty.bool(), entropy=empty)
        seqs = [list(p) + list(a) for p, a in zip(prompt_ids, action_ids)]
        ids, mask = left_pad(seqs, self.tokenizer.pad_token_id, device)
        total = ids.shape[1]
        # Actions are right-aligned in the left-padded batch: the logits that predict the last
        # `width` tokens sit at positions [total - width - 1, total - 1). Models that accept
        # `logits_to_keep` compute the LM head only there (prompts are long, actions short).
        extra = {"logits_to_keep": width + 1} if self._keeps_logits else {}
        # No KV cache while scoring (also keeps gradient checkpointing from warning that it turns it off).
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=False,
                         **extra)
        logits = out.logits[:, -(width + 1) : -1].float()  # [B, T, V]
        targets = ids[:, total - width :]  # [B, T], right-aligned
        logp_right = F.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
        ent_right = token_entropy(logits)
        # Left-align: column t of the output is action token t, found at t + (T - n) on the right.
        cols = torch.arange(width, device=device)[None]
        valid = cols < n_act[:, None]  # [B, T]
        index = (cols + width - n_act[:, None]).clamp(max=width - 1)
        logp = logp_right.gather(1, index).masked_fill(~valid, 0.0)
        entropy = ent_right.gather(1, index).masked_fill(~valid, 0.0)
        return TokenScores(logp=logp, mask=valid, entropy=entropy)

    def log_probs(self, prompt_ids: list[list[int]], action_ids: list[list[int]]) -> tuple[Tensor, Tensor]:
        """(logp `[B, T]`, mask `[B, T]`) of exactly `action_ids`, with grad; see `score`."""
        scores = self.score(prompt_ids, action_ids)
        return scores.logp, scores.mask

    def forward(self, prompt_ids: list[list[int]], action_ids: list[list[int]]) -> tuple[Tensor, Tensor]:
        return self.log_probs(prompt_ids, action_ids)


def disable_dropout(model: nn.Module) -> nn.Module:
    """Dropout off for good (every ``nn.Dropout`` p = 0, and the float ``attention_dropout`` that Llama-style
    attention reads in train mode), as TRL does for RL. Re-scoring then gives exactly the log-probs the sampler
    saw, so a PPO ratio starts at 1 and a policy gradient trains on the policy that acted."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    return model


def body_copy(model: nn.Module) -> nn.Module:
    """A deep copy of a causal LM's transformer body (e.g. GPT2Model of GPT2LMHeadModel), the starting point
    of the critic's and the token value model's encoders. A peft (LoRA) actor is copied with its adapters
    merged and every weight trainable again, so the copy is a plain model of its own."""
    if not hasattr(model, "merge_and_unload"):
        return copy.deepcopy(getattr(model, "base_model", model))
    merged = copy.deepcopy(model).merge_and_unload()
    body = getattr(merged, "base_model", merged)
    return body.requires_grad_(True)
