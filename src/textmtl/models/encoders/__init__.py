"""Text encoders: TextCNN, BiLSTM and pretrained transformers."""

from .base import Encoder, EncoderOutput
from .bilstm import BiLSTM
from .textcnn import TextCNN
from .transformer import PretrainedTransformer

__all__ = ["Encoder", "EncoderOutput", "BiLSTM", "TextCNN", "PretrainedTransformer"]
