"""Corpora: the Dialogue type, real Fisher / CANDOR readers, synthetic corpus builder.

Owns dialogue data on disk and in memory (audio, units, segment annotations) and the
small default dialogue shipped in ``duplexsim/data``. Must not know about tokens, models,
agents or the simulator.
"""

from duplexsim.corpora.candor import CandorCorpus
from duplexsim.corpora.corpus import Corpus, load_corpus, open_corpus
from duplexsim.corpora.default import default_dialogue
from duplexsim.corpora.fisher import CorpusFormatError, FisherCorpus
from duplexsim.corpora.types import Dialogue, Segment

__all__ = ["CandorCorpus", "Corpus", "CorpusFormatError", "Dialogue", "FisherCorpus", "Segment",
           "default_dialogue", "load_corpus", "open_corpus"]
