"""The chess side of archer/ChessEndgame-v0: start positions, game outcomes, the defending opponents and the
attacker's search, all over python-chess.

LMRL-Gym's endgames put a lone black king against White's king and a queen, a rook, a queen and a rook, or two
rooks (its ``large_piece_random_endgame`` with setups ``kQK``, ``kRK``, ``kQRK``, ``kRRK``): pieces dropped on
random squares until the position is legal and Black is not in check, White to move. Its opponent is Stockfish
15.1 at Elo 1200 (or a random mover). Here the default opponent is :class:`Defender`, a pure-Python lone-king
defender (see its docstring for its strength); ``opponent="random"`` is LMRL-Gym's random mover and
``opponent="stockfish"`` drives a Stockfish binary on the PATH at a fixed depth (``apt-get install stockfish``
gives 15.1, the version LMRL-Gym used).
"""

from __future__ import annotations

import shutil
from pathlib import Path
import chess
import numpy as np

#: LMRL-Gym's four setups: the pieces as FEN letters (lower case black, upper case white).
SETUPS: tuple[str, ...] = ("kQK", "kRK", "kQRK", "kRRK")
#: Start positions shipped with the task: ``POSITIONS_PER_SETUP`` per setup, made by :func:`generate_positions`.
POSITIONS_FILE = Path(__file__).resolve().parent / "positions.txt"
POSITIONS_PER_SETUP = 250
POSITIONS_SEED = 17

#: How a finished game ended, as ``info["outcome"]`` names it.
OUTCOMES = ("checkmate", "stalemate", "insufficient_material", "threefold_repetition", "fifty_moves")
_VALUE = {chess.QUEEN: 900, chess.ROOK: 500, chess.BISHOP: 330, chess.KNIGHT: 320, chess.PAWN: 100}
MATE = 100_000
_ALL = 0xFFFF_FFFF_FFFF_FFFF
_NOT_A = ~chess.BB_FILE_A & _ALL
_NOT_H = ~chess.BB_FILE_H & _ALL


# ----------------------------------------------------------------------------------------------- positions
def random_position(setup: str, rng: np.random.Generator) -> chess.Board:
    """LMRL-Gym's ``large_piece_random_endgame``: ``setup``'s pieces on distinct random squares, redrawn until the
    position is legal with White to move and Black not in check."""
    board = chess.Board(None)
    while True:
        board.clear()
        for symbol, square in zip(setup, rng.permutation(64)[: len(setup)]):
            board.set_piece_at(int(square), chess.Piece.from_symbol(symbol))
        board.turn = chess.WHITE
        if board.is_valid() and not board.is_check():
            return board


def mate_in_one(board: chess.Board) -> chess.Move | None:
    """A move of the side to move that mates at once, or None."""
    for move in board.legal_moves:
        if board.gives_check(move):
            board.push(move)
            mate = board.is_checkmate()
            board.pop()
            if mate:
                return move
    return None


def generate_positions(per_setup: int = POSITIONS_PER_SETUP, seed: int = POSITIONS_SEED) -> list[str]:
    """``per_setup`` distinct start FENs per setup, drawn as LMRL-Gym draws them, without the positions that White
    mates in one (LMRL-Gym's eval set also leaves out the trivially won ones)."""
    out: list[str] = []
    for i, setup in enumerate(SETUPS):
        rng, seen = np.random.default_rng([seed, i]), set()
        while len(seen) < per_setup:
            board = random_position(setup, rng)
            fen = board.fen()
            if fen not in seen and mate_in_one(board) is None:
                seen.add(fen)
                out.append(fen)
    return out


def load_positions() -> tuple[str, ...]:
    return tuple(line for line in POSITIONS_FILE.read_text().split("\n") if line)


def setup_of(board: chess.Board) -> str:
    """The setup name of a board (``"kQK"``...): black pieces, then white queens, rooks, then the king."""
    black = "".join(p.symbol() for p in board.piece_map().values() if p.color == chess.BLACK)
    white = "".join(sorted((p.symbol() for p in board.piece_map().values()
                            if p.color == chess.WHITE and p.piece_type != chess.KING), key="QRBNP".index))
    return "".join(sorted(black, key="kqrbnp".index)) + white + "K"


# ----------------------------------------------------------------------------------------------- outcomes
def outcome(board: chess.Board) -> str:
    """How the game stands after the last move: one of :data:`OUTCOMES`, or ``""`` while it goes on. Draws are
    claimed at once: a position seen three times, or 50 moves each without a capture or pawn move."""
    if not any(board.generate_legal_moves()):
        return "checkmate" if board.is_check() else "stalemate"
    if board.is_insufficient_material():
        return "insufficient_material"
    if board.halfmove_clock >= 100:
        return "fifty_moves"
    if board.is_repetition(3):
        return "threefold_repetition"
    return ""


# ----------------------------------------------------------------------------------------------- evaluation
def _centre_distance(square: int) -> int:
    """0 on the four centre squares, 6 in a corner (Manhattan distance to the centre)."""
    f, r = chess.square_file(square), chess.square_rank(square)
    return max(3 - f, f - 4) + max(3 - r, r - 4)


def _king_spread(bb: int) -> int:
    row = bb | ((bb >> 1) & _NOT_H) | ((bb << 1) & _NOT_A & _ALL)
    return (row | (row << 8) | (row >> 8)) & _ALL


def _attacks_through_king(board: chess.Board, color: bool) -> int:
    """Squares ``color`` attacks, with the other king taken off (it cannot hide behind itself on a line)."""
    king = board.king(not color)
    occ = board.occupied & ~chess.BB_SQUARES[king] if king is not None else board.occupied
    att = 0
    for square in chess.scan_forward(board.occupied_co[color]):
        kind = board.piece_type_at(square)
        if kind in (chess.ROOK, chess.QUEEN):
            att |= (chess.BB_RANK_ATTACKS[square][chess.BB_RANK_MASKS[square] & occ]
                    | chess.BB_FILE_ATTACKS[square][chess.BB_FILE_MASKS[square] & occ])
        if kind in (chess.BISHOP, chess.QUEEN):
            att |= chess.BB_DIAG_ATTACKS[square][chess.BB_DIAG_MASKS[square] & occ]
        if kind == chess.KING:
            att |= chess.BB_KING_ATTACKS[square]
        elif kind == chess.KNIGHT:
            att |= chess.BB_KNIGHT_ATTACKS[square]
        elif kind == chess.PAWN:
            att |= chess.BB_PAWN_ATTACKS[color][square]
    return att


def king_region(board: chess.Board, color: bool = chess.BLACK) -> int:
    """How many squares ``color``'s king can walk to (flood fill over squares the other side does not attack,
    pieces standing still): the box a rook or queen keeps the lone king in."""
    king = board.king(color)
    free = (~_attacks_through_king(board, not color) & _ALL) | chess.BB_SQUARES[king]
    region = chess.BB_SQUARES[king]
    while True:
        grown = _king_spread(region) & free
        if grown == region:
            return chess.popcount(region)
        region = grown


def evaluate(board: chess.Board, black_moves: int) -> int:
    """White's score of a quiet position with Black to move ("mop-up" evaluation of a won endgame): material, then
    a small box for the black king, the king near the edge, the white king close, few black moves, and no white
    piece left next to the black king undefended."""
    bk, wk = board.king(chess.BLACK), board.king(chess.WHITE)
    white = board.occupied_co[chess.WHITE]
    material = sum(_VALUE[board.piece_type_at(s)] for s in chess.scan_forward(white & ~board.kings))
    material -= sum(_VALUE[board.piece_type_at(s)] for s in chess.scan_forward(board.occupied_co[chess.BLACK]
                                                                                & ~board.kings))
    defended = _attacks_through_king(board, chess.WHITE)
    hanging = chess.BB_KING_ATTACKS[bk] & white & ~board.kings & ~defended
    if board.turn == chess.BLACK and hanging:
        material -= max(_VALUE[board.piece_type_at(s)] for s in chess.scan_forward(hanging))
    df, dr = chess.square_file(wk) - chess.square_file(bk), chess.square_rank(wk) - chess.square_rank(bk)
    return (material - 6 * king_region(board) + 3 * _centre_distance(bk) + 2 * (14 - abs(df) - abs(dr))
            - 2 * black_moves + 12 * _facing(bk, df, dr))


def _facing(bk: int, df: int, dr: int) -> int:
    """1 when the white king stands two squares in from a black king on the edge, at most one square aside (in
    opposition, or a knight's move off it): where a rook or queen check along the edge mates. The king-distance
    term alone walks the white king along the edge next to the black one, a draw by the fifty-move rule in KRK."""
    f, r = chess.square_file(bk), chess.square_rank(bk)
    on_file_edge = f in (0, 7) and abs(df) == 2 and abs(dr) <= 1 and (df > 0) == (f == 0)
    on_rank_edge = r in (0, 7) and abs(dr) == 2 and abs(df) <= 1 and (dr > 0) == (r == 0)
    return int(on_file_edge or on_rank_edge)


# ----------------------------------------------------------------------------------------------- the attacker
def _negamax(board: chess.Board, depth: int, alpha: int, beta: int, ply: int) -> int:
    moves = list(board.generate_legal_moves())
    if not moves:
        return -MATE + ply if board.is_check() else 0
    if board.is_insufficient_material() or board.halfmove_clock >= 100:
        return 0
    if depth == 0:
        score = evaluate(board, len(moves) if board.turn == chess.BLACK else 0)
        return score if board.turn == chess.WHITE else -score
    moves.sort(key=lambda m: not (board.is_capture(m) or board.gives_check(m)))
    best = -2 * MATE
    for move in moves:
        board.push(move)
        value = -_negamax(board, depth - 1, -beta, -alpha, ply + 1)
        board.pop()
        if value > best:
            best = value
            if value > alpha:
                alpha = value
                if alpha >= beta:
                    break
    return best


def search(board: chess.Board, depth: int = 3, seen: dict[str, int] | None = None,
           repeat_penalty: int = 60) -> chess.Move:
    """White's move by alpha-beta to ``depth`` plies over :func:`evaluate`, mates found by the shortest path.
    ``seen`` counts the positions (board part of the FEN) this player has already moved into: each earlier visit
    costs ``repeat_penalty``, which breaks the shuffles a shallow search falls into (without it the search drew
    about one KRK game in four by repetition against :class:`Defender`)."""
    seen = seen or {}
    moves = sorted(board.generate_legal_moves(), key=lambda m: (not board.gives_check(m), m.uci()))
    best, best_move = -3 * MATE, moves[0]
    for move in moves:
        board.push(move)
        penalty = repeat_penalty * seen.get(board.board_fen(), 0)
        if board.is_checkmate():
            value = MATE
        else:  # only a value above best + penalty can win: search with that bound
            value = -_negamax(board, depth - 1, -2 * MATE, -(best + penalty), 1)
            if abs(value) < MATE // 2:
                value -= penalty
        board.pop()
        if value > best:
            best, best_move = value, move
    return best_move


# ----------------------------------------------------------------------------------------------- opponents
class Defender:
    """The default opponent: a lone-king defender that looks one move ahead. It takes a white piece whenever it
    can (that draws a KQ/KR ending), never steps where White mates at once if it has another square, and
    otherwise keeps its king as near the centre as it can, then as mobile as it can (ties by UCI order, so it is
    deterministic). How strong: the expert (:func:`search`, 3 plies) needs 6.67 / 10.60 / 3.20 / 4.62 moves on
    average to mate it in KQK / KRK / KQRK / KRRK (the first 40 shipped positions of each), against 7.58 / 11.20 /
    3.15 / 4.67 for Stockfish 15.1 at depth 8 and 7.03 / 9.32 / 2.95 / 4.00 for a random king
    (``python bench/chess_opponents.py``): about as stubborn as Stockfish (a lone king cannot do much), but it does
    not steer toward the corner that lasts longest. Every one of those 480 games was mated.

    Positions of the task itself (Black's king alone against White's king and queens, rooks, bishops or knights,
    no castling rights) are read on bitboards (:func:`_white_mates_lone_king`) instead of pushing every White reply
    with python-chess: the same key for every move, so the same move (``tests/test_chess_endgame.py`` compares the
    two over thousands of positions), about five times faster (issue 19). Any other position takes the general
    path, :meth:`choose_general`."""

    name = "defender"

    def __call__(self, board: chess.Board) -> chess.Move:
        white = _lone_king_white_pieces(board)
        return self.choose_general(board) if white is None else self.choose_lone_king(board, white)

    def choose_general(self, board: chess.Board) -> chess.Move:
        """The defender's move in any position, each Black move pushed and White's replies searched for a mate."""
        best_key, best_move = None, None
        for move in board.generate_legal_moves():
            capture = _VALUE.get(board.piece_type_at(move.to_square), 0) if board.is_capture(move) else 0
            board.push(move)
            mated = mate_in_one(board) is not None
            key = (capture, not mated, -_centre_distance(move.to_square),
                   chess.popcount(chess.BB_KING_ATTACKS[move.to_square] & ~_attacks_through_king(board, chess.WHITE)
                                  & ~board.occupied_co[chess.BLACK]), move.uci())
            board.pop()
            if best_key is None or key > best_key:
                best_key, best_move = key, move
        return best_move

    def choose_lone_king(self, board: chess.Board, white: dict[int, int]) -> chess.Move:
        """:meth:`choose_general`'s move when Black has only its king (``white``: square -> piece type of White's
        pieces, king included), on bitboards: the king's legal moves are the squares next to it that White does not
        attack with the king lifted off the board (a line through the king's square goes on past it), and each is
        applied to White's pieces rather than pushed."""
        bk = board.king(chess.BLACK)
        occupied = _occupancy(white)
        attacked = _attacks_of(white, occupied)
        best_key, best_move = None, None
        for to in chess.scan_forward(chess.BB_KING_ATTACKS[bk] & ~attacked):
            move = chess.Move(bk, to)
            if to in white:  # a capture: the piece is gone, and what it attacked may no longer be
                after = {sq: kind for sq, kind in white.items() if sq != to}
                after_occupied = occupied & ~chess.BB_SQUARES[to]
                after_attacked = _attacks_of(after, after_occupied)
            else:
                after, after_occupied, after_attacked = white, occupied, attacked
            capture = _VALUE.get(white[to], 0) if to in white else 0
            mated = _white_mates_lone_king(after, after_occupied, to)
            key = (capture, not mated, -_centre_distance(to),
                   chess.popcount(chess.BB_KING_ATTACKS[to] & ~after_attacked & ~chess.BB_SQUARES[to]), move.uci())
            if best_key is None or key > best_key:
                best_key, best_move = key, move
        return best_move


def _screens(white: dict[int, int], occupied: int, bk: int) -> int:
    """White's squares whose piece alone stands between a white queen, rook or bishop and the king on ``bk``, on a
    line that piece moves along: lifting it would give check. (Black has nothing but the king, so whatever stands
    between is White's.)"""
    out = 0
    for sq, kind in white.items():
        if kind not in (chess.QUEEN, chess.ROOK, chess.BISHOP) or not chess.BB_RAYS[sq][bk]:
            continue
        straight = chess.square_file(sq) == chess.square_file(bk) or chess.square_rank(sq) == chess.square_rank(bk)
        if (kind == chess.ROOK and not straight) or (kind == chess.BISHOP and straight):
            continue
        between = chess.between(sq, bk) & occupied
        if chess.popcount(between) == 1:
            out |= between
    return out


_LONE_KING_KINDS = frozenset({chess.KING, chess.QUEEN, chess.ROOK, chess.BISHOP, chess.KNIGHT})


def _lone_king_white_pieces(board: chess.Board) -> dict[int, int] | None:
    """White's pieces (square -> piece type) when Black, to move, has only its king, White has its king and no
    pawns, and nobody may castle: the positions :meth:`Defender.choose_lone_king` reads on bitboards; else None."""
    if (board.turn != chess.BLACK or board.castling_rights or type(board) is not chess.Board
            or board.occupied_co[chess.BLACK] != board.kings & board.occupied_co[chess.BLACK]
            or chess.popcount(board.occupied_co[chess.BLACK]) != 1 or board.king(chess.WHITE) is None):
        return None
    white = {sq: board.piece_type_at(sq) for sq in chess.scan_forward(board.occupied_co[chess.WHITE])}
    return white if _LONE_KING_KINDS.issuperset(white.values()) else None


def _occupancy(pieces: dict[int, int]) -> int:
    bb = 0
    for sq in pieces:
        bb |= chess.BB_SQUARES[sq]
    return bb


def _attack(kind: int, square: int, occupied: int) -> int:
    """The squares a piece of ``kind`` on ``square`` attacks, lines stopping at ``occupied`` squares."""
    if kind == chess.KNIGHT:
        return chess.BB_KNIGHT_ATTACKS[square]
    if kind == chess.KING:
        return chess.BB_KING_ATTACKS[square]
    att = 0
    if kind in (chess.ROOK, chess.QUEEN):
        att |= (chess.BB_RANK_ATTACKS[square][chess.BB_RANK_MASKS[square] & occupied]
                | chess.BB_FILE_ATTACKS[square][chess.BB_FILE_MASKS[square] & occupied])
    if kind in (chess.BISHOP, chess.QUEEN):
        att |= chess.BB_DIAG_ATTACKS[square][chess.BB_DIAG_MASKS[square] & occupied]
    return att


def _attacks_of(pieces: dict[int, int], occupied: int) -> int:
    att = 0
    for sq, kind in pieces.items():
        att |= _attack(kind, sq, occupied)
    return att


def _white_mates_lone_king(white: dict[int, int], occupied: int, bk: int) -> bool:
    """Whether White, to move, mates at once a lone black king on ``bk`` (``white``: square -> piece type, king
    included; ``occupied``: White's squares). :func:`mate_in_one` for these positions: White's legal moves are every
    piece's move to a square it attacks that White does not hold, the king's too unless next to the black king
    (Black has nothing else that attacks). A move mates when, with the black king lifted off the board, White then
    attacks its square and every square next to it: the king's only moves, a capture of an undefended piece
    included. Only moves that give check can mate: a piece landing where it sees the king, or any move of a piece
    that stood between the king and a line piece of White's."""
    king_bb = chess.BB_SQUARES[bk]
    board_occ = occupied | king_bb
    escapes = chess.BB_KING_ATTACKS[bk]
    screens = _screens(white, board_occ, bk)
    for sq, kind in white.items():
        targets = _attack(kind, sq, board_occ) & ~occupied & ~king_bb
        if kind == chess.KING:
            targets &= ~escapes  # the kings never stand side by side
        # a move of this piece gives check if it lands on a square from which it sees the king, or if lifting it
        # opens a line of another piece onto the king (then every move of it is tried)
        if not screens & chess.BB_SQUARES[sq]:
            targets &= _attack(kind, bk, board_occ & ~chess.BB_SQUARES[sq]) if kind != chess.KING else 0
        for to in chess.scan_forward(targets):
            moved = dict(white)
            del moved[sq]
            moved[to] = kind
            attacked = _attacks_of(moved, (occupied & ~chess.BB_SQUARES[sq]) | chess.BB_SQUARES[to])
            if attacked & king_bb and not escapes & ~attacked:
                return True
    return False


class RandomMover:
    """LMRL-Gym's ``random_opponent``: a uniformly random legal move, from the env's seeded generator."""

    name = "random"

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, board: chess.Board) -> chess.Move:
        moves = sorted(board.generate_legal_moves(), key=chess.Move.uci)
        return moves[int(self.rng.integers(len(moves)))]


def find_stockfish() -> str | None:
    """A Stockfish binary: ``stockfish`` on the PATH, or Debian's (``apt-get install stockfish`` puts it in
    /usr/games, which root's PATH often lacks)."""
    return shutil.which("stockfish") or shutil.which("stockfish", path="/usr/games")


class Stockfish:
    """A Stockfish binary on the PATH or in /usr/games (or ``path``), searched to a fixed ``depth`` with one thread so that its move
    is the same every time. The process starts on first use and is not pickled."""

    name = "stockfish"

    def __init__(self, path: str | None = None, depth: int = 8):
        self.path = path or find_stockfish() or ""
        if not self.path:
            raise ValueError("opponent='stockfish' needs a Stockfish binary: none on the PATH or in /usr/games. Install one "
                             "(apt-get install stockfish gives 15.1, LMRL-Gym's version), pass stockfish_path=..., "
                             "or use opponent='defender'.")
        self.depth = depth
        self._engine = None

    def __call__(self, board: chess.Board) -> chess.Move:
        import chess.engine
        if self._engine is None:
            self._engine = chess.engine.SimpleEngine.popen_uci(self.path)
            self._engine.configure({"Threads": 1, "Hash": 16})
        return self._engine.play(board, chess.engine.Limit(depth=self.depth)).move

    def close(self) -> None:
        if self._engine is not None:
            self._engine.quit()
            self._engine = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "depth": self.depth, "_engine": None}

