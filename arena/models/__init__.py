"""Arena data, one module per concern: ``accounts`` (configuration, consent, participants), ``campaigns``
(campaigns and their models), ``battles`` (battles, messages, votes, frozen transcripts), ``feedback``
(reactions to answers, moderation log), ``exports`` (research export jobs) and ``labels`` (answers'
style features, prompt categories and labels)."""
from arena.models.accounts import ArenaConfig, ConsentText, Participant
from arena.models.campaigns import Campaign, CampaignModel
from arena.models.battles import Battle, Message, Vote, VoteTranscript  # noqa: I001 - after campaigns
from arena.models.exports import ExportJob
from arena.models.feedback import ModerationAction, Reaction
from arena.models.labels import AnswerStyle, Category, PromptLabel, VoteStyle

__all__ = ["AnswerStyle", "ArenaConfig", "Battle", "Campaign", "CampaignModel", "Category", "ConsentText",
           "ExportJob", "Message", "ModerationAction", "Participant", "PromptLabel", "Reaction", "Vote",
           "VoteStyle", "VoteTranscript"]
