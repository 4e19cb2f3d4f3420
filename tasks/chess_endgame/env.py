"""archer/ChessEndgame-v0: LMRL-Gym's chess endgames: mate a lone king with moves given as text."""

from __future__ import annotations

from typing import Any

import chess

from archer_gym.chat import window_from_messages
from archer_gym.env import StepResult, TextGameEnv, window_observation
from tasks.chess_endgame.engine import SETUPS, Defender, RandomMover, Stockfish, load_positions, outcome, setup_of

OPPONENTS = ("defender", "random", "stockfish")
#: LMRL-Gym's rewards: 1 for the mating move, -1 for an illegal move (or text that is no move) and for being
#: mated, 0 for every other move and for a draw.
REWARD_WIN, REWARD_LOSS, REWARD_ILLEGAL, REWARD_MOVE, REWARD_DRAW = 1.0, -1.0, -1.0, 0.0, 0.0
STATE_PREFIX = "Position (FEN): "
PLAYED_PREFIX = "You played "
NOT_A_MOVE = "That is not a move: say one move in SAN (Qd5, Kxe2, Ra8+) or UCI (d1d5)."
_ECHO_CHARS = 60
_DRAW_TEXT = {
    "stalemate": "Stalemate: Black has no legal move and is not in check. The game is drawn.",
    "insufficient_material": "Only the kings are left. The game is drawn.",
    "threefold_repetition": "The same position has come up three times. The game is drawn.",
    "fifty_moves": "Fifty moves without a capture. The game is drawn.",
}


def parse_move(board: chess.Board, text: str) -> tuple[chess.Move | None, str]:
    """Read one move for ``board`` from ``text``: SAN (``Qd5``, ``Qxd5+``, ``Qd5#``) or UCI (``d1d5``), with
    surrounding spaces and trailing ``.``, ``!``, ``?`` ignored. Returns ``(move, "")``, or ``(None, why)`` with
    ``why`` ``"illegal"`` (a well-formed move this position does not allow, the null move included) or
    ``"not a move"``."""
    token = text.strip().rstrip(".!?").strip()
    if not token or any(ch.isspace() for ch in token):
        return None, "not a move"
    try:
        move = board.parse_san(token)
    except chess.IllegalMoveError:
        return None, "illegal"
    except (chess.InvalidMoveError, ValueError):
        return None, "not a move"
    if not move:  # "--", "0000": the null move (LMRL-Gym ends the game with -1 on it; here it is one illegal move)
        return None, "illegal"
    return move, ""


class ChessEndgameEnv(TextGameEnv):
    """Checkmate a lone black king with White's king and queen, rook, queen and rook, or two rooks, move by move
    in text: LMRL-Gym's Endgames task.

    ## Description
    Each episode starts from one of LMRL-Gym's four theoretical endgames (``kQK``, ``kRK``, ``kQRK``, ``kRRK``:
    a black king alone against a white king and a queen, a rook, both, or two rooks), pieces on random squares,
    White to move. The agent plays White: each turn it says one move, and the opponent answers with Black's.
    The position is given in FEN, as in LMRL-Gym. The default opponent is a pure-Python defender (it takes any
    piece it can, dodges mates in one and keeps its king central; ``engine.Defender``), since no Stockfish comes
    with a pip install; ``opponent="stockfish"`` plays a Stockfish binary instead (LMRL-Gym's engine, found on
    the PATH or in /usr/games; its moves then depend on the binary's version), ``opponent="random"`` a random
    king (LMRL-Gym's ``random_opponent``).

    ## Action Space
    ``Text(max_length=500)``: one move in SAN (``Qd5``, ``Rxa7+``, ``Kf2``) or UCI (``d1d5``); trailing ``.``,
    ``!`` and ``?`` are ignored. Any ``str`` is a legal turn: an illegal move, the null move (``--``) or text
    that is no move (two words, ``hello``) leaves the board as it was, costs -1 (LMRL-Gym's score for an illegal
    move; White moves again next turn) and sets ``info["invalid_action"]``. A non-``str`` raises ``TypeError``.

    ## Observation Space
    ``Text(max_length=20000)``: the instruction, the last ``history_turns`` turns, and the position::

        You play White in a chess endgame. ...

        > Qd5
        You played Qd5. Black played Kc7.
        Position (FEN): 8/2k5/8/3Q4/8/8/8/4K3 w - - 2 2

    With ``show_board=True`` an 8-line diagram (python-chess's: upper case White, ``.`` empty, rank 8 on top)
    follows the FEN line.

    ## Starting State
    A target is a start position, named by its FEN. The task ships 1,000 (``positions.txt``: 250 per setup, drawn
    as LMRL-Gym's ``large_piece_random_endgame`` draws them, legal, Black not in check, minus those White mates in
    one; ``engine.generate_positions`` remakes them). ``reset(seed=s)`` draws one from the split's positions; the
    eval split walks a fixed seeded sequence; ``reset(options={"target": fen})`` starts from any legal position
    with White to move, shipped or not.

    ## Rewards
    LMRL-Gym's: 1 for the move that mates, -1 for an illegal move or text that is no move, -1 if Black mates
    White (possible only from a ``target`` FEN where Black has pieces), 0 for every other move and for a draw.
    An expert's return is 1; every wasted turn costs only through the turn cap and the draw rules.

    ## Episode End
    Terminated when the game ends: checkmate (success), stalemate, only the kings left (Black took the last
    piece), a position repeated three times, or fifty moves by each side without a capture (draws are claimed at
    once; LMRL-Gym plays on until python-chess's automatic fivefold and 75-move rules). Truncated after
    ``max_turns`` turns (100; LMRL-Gym's cap is 400 moves, but the fifty-move rule ends any legal game within 50
    of White's moves, and the other 50 turns leave room for illegal ones).

    ## Information
    - ``turn`` (int), ``success`` (bool: White mated on this turn).
    - ``reply`` (str): what happened (the two moves, the result, or why the text was not played).
    - ``invalid_action`` (bool): the text was no legal move, or was empty, cut or mapped; the turn still counted.
    - ``move`` (str): the agent's move in SAN, ``""`` if none was played; ``opponent_move`` (str): Black's reply
      in SAN, ``""`` if none.
    - ``fen`` (str): the position after the turn; ``outcome`` (str): ``""`` while the game goes on, else one of
      ``checkmate``, ``stalemate``, ``insufficient_material``, ``threefold_repetition``, ``fifty_moves``.
    - ``episode`` (dict, at episode end only): ``return``, ``length``, ``success``, ``target``.
    - ``messages`` (list[dict], every step and reset): the whole episode as OpenAI chat messages (system: the
      instruction; a first user message: the start position's FEN line; assistant: the moves as read; user: the
      reply, a blank line, then the FEN line after the turn; with ``show_board`` the diagram follows each FEN
      line). See :mod:`archer_gym.chat`.

    ## Arguments
    - ``setups``: which of ``kQK``, ``kRK``, ``kQRK``, ``kRRK`` the shipped positions come from (all four).
    - ``opponent``: ``"defender"`` (default), ``"random"`` or ``"stockfish"`` (``stockfish_path``, default the
      PATH's or /usr/games'; ``stockfish_depth``, default 8; one thread, so its moves repeat).
    - ``split``, ``holdout_fraction``: the fraction of positions kept for eval only (0.2 in the registry: 200).
    - ``max_turns``: turn cap (100); ``history_turns``: recent turns shown (2); ``show_board``: add a diagram.
    - ``oracle``: must be None (the opponent is a chess engine). ``render_mode``: ``"ansi"``, ``"human"`` or None.

    ## References
    - Abdulhai et al., "LMRL Gym: Benchmarks for Multi-Turn Reinforcement Learning with Language Models", 2023
      (the Endgames task: its setups, FEN states, SAN moves and rewards).
    - python-chess (move generation, SAN and UCI parsing, draw rules).

    ## Version History
    - v0: initial release (four setups, 1,000 positions, the pure-Python defender, 100 turns).
    """

    def __init__(self, *, setups: tuple[str, ...] | list[str] = SETUPS, opponent: str = "defender",
                 stockfish_path: str | None = None, stockfish_depth: int = 8, split: str = "train",
                 holdout_fraction: float = 0.0, max_turns: int = 100, history_turns: int = 2,
                 show_board: bool = False, oracle: None = None, render_mode: str | None = None,
                 max_action_length: int = 500):
        setups = tuple(setups)
        unknown = [s for s in setups if s not in SETUPS]
        if unknown or not setups:
            raise ValueError(f"setups={list(setups)!r}: choose one or more of {list(SETUPS)}.")
        if opponent not in OPPONENTS:
            raise ValueError(f"opponent={opponent!r}; choose one of {list(OPPONENTS)}.")
        if oracle is not None:
            raise ValueError(f"oracle={oracle!r}: the opponent is a chess engine; pass oracle=None "
                             f"(and opponent= one of {list(OPPONENTS)}).")
        if not isinstance(history_turns, int) or history_turns < 0:
            raise ValueError(f"history_turns={history_turns!r} must be an int >= 0.")
        self.setups, self.opponent_name = setups, opponent
        self.history_turns, self.show_board = history_turns, bool(show_board)
        self._engine = (Stockfish(stockfish_path, stockfish_depth) if opponent == "stockfish"
                        else Defender() if opponent == "defender" else None)
        self.all_targets = tuple(f for f in load_positions() if setup_of(chess.Board(f)) in setups)
        super().__init__(split=split, holdout_fraction=holdout_fraction, max_turns=max_turns, oracle=None,
                         render_mode=render_mode, max_action_length=max_action_length)
        self.board = chess.Board(self.targets[0])
        self._fen_key: tuple | None = None  # the position whose FEN _fen holds (see position_fen)
        self._fen = ""

    # ----------------------------------------------------------------- task hooks
    def instruction(self) -> str:
        return ("You play White in a chess endgame: checkmate the black king. Each turn say one move, in SAN (Qd5, "
                "Rxa7+, Kf2) or UCI (d1d5); Black answers. Mating scores 1. An illegal move or text that is not a "
                "move scores -1 and leaves the board as it was. Stalemate, a position repeated three times, fifty "
                "moves without a capture, or losing your last piece draws (0). The position is given in FEN, "
                f"White to move; you have {self.max_turns} turns.")

    def resolve_target(self, name: str) -> str:
        try:
            board = chess.Board(str(name).strip())
        except ValueError as e:
            raise ValueError(f"target {name!r} is not a FEN ({e}); give a position such as {self.all_targets[0]!r}.")
        if not board.is_valid() or board.turn != chess.WHITE or outcome(board):
            raise ValueError(f"target {name!r} must be a legal position with White to move and the game not over "
                             f"(python-chess status {board.status()!r}).")
        return board.fen()

    def _on_reset(self, target: str) -> None:
        self.board = chess.Board(target)

    def _request(self, action: str) -> None:
        return None

    def _opponent(self) -> chess.Move:
        return self._engine(self.board) if self._engine is not None else RandomMover(self.np_random)(self.board)

    def _apply(self, action: str, reply: str | None) -> StepResult:
        move, why = parse_move(self.board, action)
        echo = (action[:_ECHO_CHARS] + ("..." if len(action) > _ECHO_CHARS else "")) or "(nothing)"
        info: dict[str, Any] = {"invalid_action": move is None, "move": "", "opponent_move": "", "outcome": ""}
        if move is None:
            text = f"{echo} is not a legal move here: the board is unchanged." if why == "illegal" else NOT_A_MOVE
            info["fen"] = self.position_fen()
            return StepResult(reward=REWARD_ILLEGAL, terminated=False, success=False, reply=text,
                              history_lines=self.transcript_lines(action, text), info=info)
        san = self.board.san(move)
        self.board.push(move)
        info["move"], text = san, f"{PLAYED_PREFIX}{san}."
        reward, ended = REWARD_MOVE, outcome(self.board)
        if ended == "checkmate":
            reward, text = REWARD_WIN, f"{text} Checkmate: you win."
        elif ended:
            reward, text = REWARD_DRAW, f"{text} {_DRAW_TEXT[ended]}"
        else:
            reply_move = self._opponent()
            info["opponent_move"] = self.board.san(reply_move)
            self.board.push(reply_move)
            text = f"{text} Black played {info['opponent_move']}."
            ended = outcome(self.board)
            if ended == "checkmate":
                reward, text = REWARD_LOSS, f"{text} Checkmate: Black wins."
            elif ended:
                reward, text = REWARD_DRAW, f"{text} {_DRAW_TEXT[ended]}"
        info.update(fen=self.position_fen(), outcome=ended)
        return StepResult(reward=reward, terminated=bool(ended), success=ended == "checkmate" and reward > 0,
                          reply=text, history_lines=self.transcript_lines(action, text), info=info)

    def transcript_lines(self, action: str, reply: str) -> list[str]:
        """``> <move in SAN>`` for a played move (however it was said: ``d1d5``, ``Qd5!``), read from the reply
        (``You played <SAN>. ...``), else the text cut to 60 characters; then the reply. Only a played move's
        reply starts so: the reply to text that was not played is :data:`NOT_A_MOVE` or the text then ``is not a
        legal move here``, and such text never starts with ``You played`` (its move part would hold a space, so it
        is no move). The chat messages keep the action and the reply, so :meth:`observation_from_messages` writes
        the same lines."""
        if reply.startswith(PLAYED_PREFIX):
            return [f"> {reply[len(PLAYED_PREFIX):].split('.', 1)[0]}", reply]  # SAN holds no "."
        echo = (action[:_ECHO_CHARS] + ("..." if len(action) > _ECHO_CHARS else "")) or "(nothing)"
        return [f"> {echo}", reply]

    def position_fen(self) -> str:
        """``self.board.fen()``, built once per position: a turn shows it three times (``info["fen"]``, the
        observation, the chat message) and python-chess builds it square by square (issue 19). The position is
        told by everything a FEN is made of, so a board changed from outside is read again."""
        b = self.board
        key = (b.occupied_co[chess.WHITE], b.occupied_co[chess.BLACK], b.pawns, b.knights, b.bishops, b.rooks,
               b.queens, b.kings, b.promoted, b.turn, b.castling_rights, b.ep_square, b.halfmove_clock,
               b.fullmove_number, b.chess960)
        if key != self._fen_key:
            self._fen_key, self._fen = key, b.fen()
        return self._fen

    def state_text(self) -> str:
        """The position as the agent sees it: the FEN line (and the diagram with ``show_board``)."""
        text = STATE_PREFIX + self.position_fen()
        return text + "\n" + str(self.board) if self.show_board else text

    def observation(self) -> str:
        recent = self._history[-2 * self.history_turns:] if self.history_turns else []
        return window_observation(self.instruction(), recent, self.state_text())

    def chat_view(self) -> str:
        """The position (the FEN line, and the diagram with ``show_board``): after every reply in the chat messages
        and alone before the first turn."""
        return self.state_text()

    def observation_from_messages(self, messages) -> str:
        """The observation shows the last ``history_turns`` turns and the position; the messages keep every turn
        and the position after each."""
        return window_observation(*window_from_messages(messages, self.transcript_lines, self.history_turns))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        info.update(move="", opponent_move="", fen=self.position_fen(), outcome="")
        return obs, info

    def close(self) -> None:
        if isinstance(self._engine, Stockfish):
            self._engine.close()
        super().close()

    def scripted_policies(self) -> dict[str, Any]:
        from tasks.chess_endgame.policies import POLICIES
        return dict(POLICIES)
