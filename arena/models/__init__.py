"""Arena data, one module per concern: ``accounts`` (configuration, consent, participants), ``battles``
(battles, messages, votes, frozen transcripts), ``exports`` (research export jobs) and ``labels``
(answers' style features, prompt categories and labels)."""
from arena.models.accounts import ArenaConfig, ConsentText, Participant
from arena.models.battles import Battle, Message, Vote, VoteTranscript
from arena.models.exports import ExportJob
from arena.models.labels import AnswerStyle, Category, PromptLabel

__all__ = ["AnswerStyle", "ArenaConfig", "Battle", "Category", "ConsentText", "ExportJob", "Message", "Participant",
           "PromptLabel", "Vote", "VoteTranscript"]
