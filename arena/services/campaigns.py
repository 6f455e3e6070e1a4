"""Campaign side effects: telling the open progress sockets how far the campaigns have got."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from arena import campaigns
from arena.models import Campaign, Vote

logger = logging.getLogger(__name__)


def broadcast_progress(*, vote_ids: Iterable[int]) -> int:
    """After a batch of votes is checked: one progress frame (one aggregate query) per campaign the
    batch's votes belong to, sent to every progress socket in every ASGI process. Best effort: the
    pages show the numbers they were served with when the channel layer is down. Returns the frames sent."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    ids = list(vote_ids)
    if not ids:
        return 0
    layer = get_channel_layer()
    if layer is None:
        return 0
    campaign_ids = set(Vote.objects.filter(pk__in=ids, campaign__isnull=False)
                       .values_list("campaign_id", flat=True).order_by().distinct())
    sent = 0
    for campaign in Campaign.objects.filter(pk__in=campaign_ids):
        frame = campaigns.campaign_progress(campaign).frame()
        try:
            async_to_sync(layer.group_send)(campaigns.PROGRESS_GROUP, {"type": "campaign.progress", "frame": frame})
            sent += 1
        except Exception:
            logger.warning("could not broadcast the progress of campaign %s", campaign.slug, exc_info=True)
    return sent
