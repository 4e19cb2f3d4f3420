"""archer/ChessEndgame-v0: move parsing, LMRL-Gym's rewards, every way a game ends, the positions, the opponents
and the scripted players."""

import chess
import gymnasium as gym
import numpy as np
import pytest

import archer_gym  # noqa: F401
from archer_gym.evaluation import run_episode, scripted_policy
from tasks.chess_endgame import engine
from tasks.chess_endgame.env import NOT_A_MOVE, parse_move
from tasks.chess_endgame.policies import ExpertPolicy, RandomPolicy, read_board

KR = "8/8/8/4k3/8/8/8/R3K3 w - - 0 1"  # a lone king against king and rook, nothing happening yet


def make(**kw):
    return gym.make("archer/ChessEndgame-v0", **kw)


@pytest.mark.parametrize("text, uci, why", [
    ("Ra5+", "a1a5", ""), ("Ra5", "a1a5", ""), ("a1a5", "a1a5", ""), (" Kd2. ", "e1d2", ""), ("Ra5!", "a1a5", ""),
    ("Rh1", None, "illegal"), ("Ra9", None, "not a move"), ("--", None, "illegal"), ("0000", None, "illegal"),
    ("I play Ra5", None, "not a move"), ("", None, "not a move"), ("hello", None, "not a move"),
])
def test_parse_move(text, uci, why):
    move, reason = parse_move(chess.Board(KR), text)
    assert (move.uci() if move else None, reason) == (uci, why)


def test_mate_in_one_is_found_and_scores_one():
    fen = "6k1/8/6K1/8/8/8/8/R7 w - - 0 1"  # Ra8 mates
    env = make()
    obs, _ = env.reset(seed=0, options={"target": fen})
    assert obs.endswith(f"Position (FEN): {fen}\n")
    action = ExpertPolicy()(obs)
    assert action == "Ra8#"
    _, r, term, trunc, info = env.step(action)
    assert (r, term, trunc, info["success"], info["outcome"], info["move"]) == (1.0, True, False, True, "checkmate", "Ra8#")
    assert info["episode"] == {"return": 1.0, "length": 1, "success": True, "target": fen}


def test_illegal_moves_and_text_cost_one_and_leave_the_board():
    env = make()
    env.reset(seed=0, options={"target": KR})
    for action, reply in [("Rh1", "Rh1 is not a legal move here: the board is unchanged."), ("hello", NOT_A_MOVE),
                          ("--", "-- is not a legal move here: the board is unchanged."), ("", NOT_A_MOVE)]:
        _, r, term, trunc, info = env.step(action)
        assert (r, term, trunc, info["invalid_action"], info["reply"]) == (-1.0, False, False, True, reply)
        assert (info["fen"], info["move"], info["opponent_move"]) == (KR, "", "")
    obs, r, term, _, info = env.step("Ra4")  # a legal move: 0, and Black answers
    assert (r, term, info["invalid_action"], info["move"]) == (0.0, False, False, "Ra4")
    assert info["opponent_move"] and info["fen"] != KR and obs.endswith(f"Position (FEN): {info['fen']}\n")
    assert "> Rh1\n" not in obs and "> hello" not in obs  # only the last two turns are shown: "--" and "Ra4"


def test_stalemate_draws_and_ends():
    env = make()
    env.reset(seed=0, options={"target": "k7/8/1K6/8/8/8/8/2Q5 w - - 0 1"})
    _, r, term, trunc, info = env.step("Qc7")  # a8 has no square left and is not attacked
    assert (r, term, trunc, info["success"], info["outcome"], info["opponent_move"]) == (0.0, True, False, False,
                                                                                     "stalemate", "")


def test_losing_the_last_piece_draws():
    env = make()
    env.reset(seed=0, options={"target": "8/8/8/4k3/R7/8/8/7K w - - 0 1"})
    _, r, term, _, info = env.step("Re4+")  # the rook stands next to the king, undefended: the defender takes it
    assert (r, term, info["opponent_move"], info["outcome"], info["success"]) == (0.0, True, "Kxe4",
                                                                                "insufficient_material", False)


def test_fifty_move_rule_draws():
    env = make()
    env.reset(seed=0, options={"target": "8/8/8/4k3/8/8/8/R3K3 w - - 98 70"})
    _, r, term, _, info = env.step("Kd2")  # the 99th and 100th quiet half-moves
    assert (r, term, info["outcome"], info["fen"].split()[4]) == (0.0, True, "fifty_moves", "100")


def test_threefold_repetition_is_a_draw():
    board = chess.Board(KR)
    for uci in ["e1d1", "e5d5", "d1e1", "d5e5"] * 2:
        assert engine.outcome(board) == ""
        board.push_uci(uci)
    assert engine.outcome(board) == "threefold_repetition"


def test_turn_cap_truncates():
    env = make(max_turns=3)
    env.reset(seed=0, options={"target": KR})
    outs = [env.step("nonsense") for _ in range(3)]
    assert [o[2:4] for o in outs] == [(False, False), (False, False), (False, True)]
    assert outs[-1][4]["episode"]["return"] == -3.0


def test_defender_takes_what_it_can_and_dodges_mate_in_one():
    d = engine.Defender()
    # Kh4, the most central square, walks into Rh7# (White's king holds g3, g4, g5); Kg2 is the next most central and safe
    board = chess.Board("8/4R3/8/8/5K2/7k/8/8 b - - 0 1")
    assert d(board).uci() == "h3g2"
    board.push_uci("h3h4")
    assert engine.mate_in_one(board) == chess.Move.from_uci("e7h7")
    assert d(chess.Board("8/8/8/4k3/4R3/8/8/7K b - - 0 1")).uci() == "e5e4"


def _black_to_move_positions():
    """Every position after one White move from every 25th shipped start (all four setups), then random lone-king
    positions of other material (two queens, rook and bishop, bishop and knight, two knights), Black to move."""
    boards = []
    for fen in engine.load_positions()[::25]:
        board = chess.Board(fen)
        for move in board.legal_moves:
            board.push(move)
            boards.append(board.copy(stack=False))
            board.pop()
    rng = np.random.default_rng(5)
    for setup in ("kQQK", "kRBK", "kBNK", "kNNK"):
        for _ in range(60):
            board = engine.random_position(setup, rng)
            board.turn = chess.BLACK
            if board.is_valid():
                boards.append(board)
    return boards


def test_defender_on_bitboards_plays_the_general_defenders_move():
    """Issue 19: the lone-king path reads positions on bitboards instead of pushing every White reply; its move is
    the general path's in every position tried (1,500 here; 42,593 when it was written, none differing)."""
    d = engine.Defender()
    boards = _black_to_move_positions()
    assert len(boards) > 1000
    for board in boards:
        white = engine._lone_king_white_pieces(board)
        assert white is not None, board.fen()
        assert d.choose_lone_king(board, white) == d.choose_general(board), board.fen()
        assert d(board) == d.choose_general(board)


def test_white_mates_lone_king_is_mate_in_one():
    found = 0
    for board in _black_to_move_positions()[::3]:
        for move in list(board.legal_moves):
            board.push(move)
            white = {sq: board.piece_type_at(sq) for sq in chess.scan_forward(board.occupied_co[chess.WHITE])}
            mates = engine._white_mates_lone_king(white, board.occupied_co[chess.WHITE], board.king(chess.BLACK))
            assert mates == (engine.mate_in_one(board) is not None), board.fen()
            found += mates
            board.pop()
    assert found > 50  # positions where White has a mate are among them


def test_defender_takes_the_general_path_outside_lone_king_endings():
    for fen in ("4k3/8/8/8/8/8/8/R3K3 b Q - 0 1",  # White may castle
                "4k3/4p3/8/8/8/8/8/R3K3 b - - 0 1",  # Black has a pawn
                "4k3/8/8/8/8/8/4P3/R3K3 b - - 0 1"):  # White has a pawn
        assert engine._lone_king_white_pieces(chess.Board(fen)) is None
    assert engine._lone_king_white_pieces(chess.Board("4k3/8/8/8/8/8/8/R3K3 b - - 0 1")) is not None


def test_positions_are_lmrl_style_and_remade_by_the_generator():
    positions = engine.load_positions()
    assert len(positions) == 1000 and len(set(positions)) == 1000
    remade = engine.generate_positions(per_setup=3)
    assert remade == [p for k in range(4) for p in positions[250 * k: 250 * k + 3]]
    for fen in positions[::50]:
        board = chess.Board(fen)
        assert board.is_valid() and board.turn == chess.WHITE and not board.is_check()
        assert engine.mate_in_one(board) is None and engine.setup_of(board) in engine.SETUPS
    env_eval, env_train = make(split="eval").unwrapped, make(split="train").unwrapped
    assert len(env_eval.targets) == 200 and not set(env_eval.targets) & set(env_train.targets)
    assert {engine.setup_of(chess.Board(f)) for f in make(setups=["kRK"]).unwrapped.targets} == {"kRK"}


def test_bad_arguments_and_targets_name_the_fix():
    with pytest.raises(ValueError, match="choose one or more of"):
        make(setups=["kBNK"])
    with pytest.raises(ValueError, match="choose one of"):
        make(opponent="magnus")
    env = make()
    with pytest.raises(ValueError, match="is not a FEN"):
        env.reset(options={"target": "not a fen"})
    with pytest.raises(ValueError, match="White to move"):
        env.reset(options={"target": KR.replace(" w ", " b ")})


def test_stockfish_opponent_needs_a_binary(monkeypatch):
    monkeypatch.setattr(engine.shutil, "which", lambda name, **kw: None)
    with pytest.raises(ValueError, match="apt-get install stockfish"):
        make(opponent="stockfish")


@pytest.mark.skipif(engine.find_stockfish() is None, reason="no stockfish binary (apt-get install stockfish)")
def test_stockfish_opponent_answers_and_pickles():
    import pickle
    env = make(opponent="stockfish", stockfish_depth=4)
    env.reset(seed=0, options={"target": KR})
    _, r, _, _, info = env.step("Ra4")
    assert r == 0.0 and info["opponent_move"].startswith("K")
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    assert clone.step("Kd2")[4]["move"] == env.step("Kd2")[4]["move"] == "Kd2"
    env.close()
    clone.close()


def test_expert_mates_a_rook_ending_and_random_does_not_score():
    env = make(split="eval")
    krk = next(f for f in engine.load_positions()[250:] if engine.setup_of(chess.Board(f)) == "kRK")
    ep = run_episode(env, scripted_policy(env, "expert", np.random.default_rng(0)), options={"target": krk}, seed=0)
    assert ep.success and ep.ret == 1.0 and ep.length <= 30
    # the eval position the expert drew by the fifty-move rule before its evaluation rewarded facing the king
    ep = run_episode(env, scripted_policy(env, "expert", np.random.default_rng(0)),
                     options={"target": "8/8/k7/8/1R6/8/8/3K4 w - - 0 1"}, seed=0)
    assert ep.success and ep.length <= 12
    rets = [run_episode(env, scripted_policy(env, "random", np.random.default_rng(s)), seed=s).ret for s in range(5)]
    assert max(rets) < 1.0


def test_random_policy_mixes_legal_moves_and_garbage():
    obs = make().reset(seed=0, options={"target": KR})[0]
    pol = RandomPolicy(rng=0)
    moves = [pol(obs) for _ in range(200)]
    legal = [m for m in moves if parse_move(read_board(obs), m)[0] is not None]
    assert 0.7 < len(legal) / len(moves) < 0.95


def test_show_board_adds_a_diagram():
    obs, _ = make(show_board=True).reset(seed=0, options={"target": KR})
    assert obs.endswith(f"Position (FEN): {KR}\n" + str(chess.Board(KR)) + "\n")
