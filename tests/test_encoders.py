import pytest
import torch

from textmtl.data.batching import Batch
from textmtl.data.tasks import TaskKind, TaskSpec
from textmtl.models.architectures import HardSharing
from textmtl.models.encoders import BiLSTM, PretrainedTransformer, TextCNN
from textmtl.errors import ModelError


def batch(lengths, vocab=50, pad_to=None):
    width = pad_to or max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros(len(lengths), width, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(3, vocab, (n,), generator=g)
        mask[i, :n] = True
    return Batch(ids, mask, None)


ENCODERS = {
    "textcnn": lambda: TextCNN(50, embedding_dim=8, kernel_sizes=(3, 5, 7), num_filters=4),
    "bilstm-max": lambda: BiLSTM(50, embedding_dim=8, hidden_size=5, pooling="max"),
    "bilstm-last": lambda: BiLSTM(50, embedding_dim=8, hidden_size=5, pooling="last"),
    "bilstm-mean": lambda: BiLSTM(50, embedding_dim=8, hidden_size=5, pooling="mean", num_layers=2),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_word_encoder_shapes(name):
    enc = ENCODERS[name]().eval()
    out = enc(batch([7, 2, 1]), tokens=True)
    assert out.pooled.shape == (3, enc.output_dim)
    assert out.tokens.shape == (3, 7, enc.output_dim)
    assert enc(batch([7, 2, 1])).tokens is None


@pytest.mark.parametrize("name", list(ENCODERS))
def test_padding_does_not_change_the_pooled_vector(name):
    torch.manual_seed(0)
    enc = ENCODERS[name]().eval()
    short, padded = batch([6, 3]), batch([6, 3], pad_to=11)
    with torch.no_grad():
        assert torch.allclose(enc(short).pooled, enc(padded).pooled, atol=1e-6)


def test_textcnn_matches_kim_output_width():
    assert TextCNN(10, kernel_sizes=(3, 5, 7), num_filters=100).output_dim == 300


def test_transformer_encoder_from_folder_and_from_config(tiny_bert):
    enc = PretrainedTransformer.from_folder(tiny_bert).eval()
    b = batch([5, 3], vocab=40)
    out = enc(b, tokens=True)
    assert out.pooled.shape == (2, 32) and out.tokens.shape == (2, 5, 32)
    rebuilt = PretrainedTransformer.from_config(enc.hf_config()).eval()
    rebuilt.load_state_dict(enc.state_dict())
    with torch.no_grad():
        assert torch.allclose(rebuilt(b).pooled, enc(b).pooled, atol=1e-6)


def test_loading_a_transformer_draws_no_progress_bar(tiny_bert, capfd):
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    PretrainedTransformer.from_folder(tiny_bert)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is restored


def test_transformer_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        PretrainedTransformer.from_folder(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="model.safetensors"):
        PretrainedTransformer.from_folder(tmp_path)


def test_hard_sharing_heads_per_task_kind_and_parameter_split():
    specs = [TaskSpec("cls", TaskKind.CLASSIFICATION, ("a", "b", "c")), TaskSpec("reg", TaskKind.REGRESSION),
             TaskSpec("tag", TaskKind.TAGGING, ("O", "B", "I", "X"))]
    model = HardSharing(specs, BiLSTM(50, embedding_dim=8, hidden_size=5))
    b = batch([4, 2])
    assert model("cls", b).logits.shape == (2, 3)
    assert model("reg", b).logits.shape == (2,)
    assert model("tag", b).logits.shape == (2, 4, 4)
    shared = {id(p) for p in model.shared_parameters()}
    assert shared == {id(p) for p in model.encoder.parameters()}
    for t in ("cls", "reg", "tag"):
        own = model.task_parameters(t)
        assert own and not shared & {id(p) for p in own}
        assert {id(p) for p in own} == {id(p) for p in model.heads[t].parameters()}


def test_bilstm_equals_a_packed_bidirectional_lstm():
    """Our padded two-direction LSTM computes exactly what torch's packed BiLSTM computes."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(1)
    enc = BiLSTM(50, embedding_dim=6, hidden_size=4, num_layers=2, pooling="last", dropout=0.0).eval()
    ref = torch.nn.LSTM(6, 4, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for layer, (f, b) in enumerate(zip(enc.forward_layers, enc.backward_layers)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{layer}").copy_(getattr(f, f"{name}_l0"))
                getattr(ref, f"{name}_l{layer}_reverse").copy_(getattr(b, f"{name}_l0"))
    b = batch([7, 3, 1, 5])
    lengths = b.attention_mask.sum(1)
    with torch.no_grad():
        out = enc(b, tokens=True)
        packed = pack_padded_sequence(enc.embed(b.input_ids), lengths, batch_first=True, enforce_sorted=False)
        states, (h, _) = ref(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=7)
    assert torch.allclose(out.tokens * b.attention_mask.unsqueeze(-1), states, atol=1e-6)
    assert torch.allclose(out.pooled, torch.cat([h[-2], h[-1]], dim=-1), atol=1e-6)
