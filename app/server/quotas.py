"""What one agent may ask of the server: mutation rate and volume, drafts kept.

Each agent has two token buckets, shared by all of their connections: one counts mutations,
the other the bytes of their frames.  A bucket holds up to ``burst`` tokens and refills at
``per_s``; a mutation takes one token from the first and its size from the second.  When
either is short, the mutation is refused with a transient ``rate_limited`` (nothing applied
or stored) and ``retry_after`` says when to send it again.  The bursts let a workstation
that was offline send its whole outbox at once; the rates are far above what a person types
and far below what the writer can do, so one agent can never take the writer from the rest.

What an agent may keep is limited where it is written: drafts in `app.domain.drafts`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from app.server.submit import reject_frame
from app.sync.protocol import ErrorCode

# Per agent, across their connections (docs/protocol.md section 16).
MUTATIONS_PER_S = 200.0
MUTATION_BURST = 2_000
MUTATION_BYTES_PER_S = 1024 * 1024
MUTATION_BYTES_BURST = 16 * 1024 * 1024
# Mutations of one agent waiting for the writer; beyond it their connections are not read.
QUEUED_PER_AGENT = 256


@dataclass
class TokenBucket:
    """``burst`` tokens at most, refilled at ``per_s``; starts full."""

    per_s: float
    burst: float
    tokens: float = math.nan
    stamp: float = 0.0

    def _refill(self, now: float) -> None:
        if math.isnan(self.tokens):
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_s)
        self.stamp = now

    def shortfall(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens are there (0: now)."""
        self._refill(now)
        # A cost above the burst could never be paid: a full bucket lets it through.
        missing = min(cost, self.burst) - self.tokens
        return max(0.0, missing / self.per_s)

    def take(self, cost: float, now: float) -> None:
        self._refill(now)
        self.tokens -= min(cost, self.burst)


@dataclass
class AgentQuotas:
    """The mutation buckets of every agent (kept in memory: a restart only forgives)."""

    per_s: float = MUTATIONS_PER_S
    burst: float = MUTATION_BURST
    bytes_per_s: float = MUTATION_BYTES_PER_S
    bytes_burst: float = MUTATION_BYTES_BURST
    refused: int = 0  # mutations refused so far (for the log and for tests)
    _buckets: dict[str, tuple[TokenBucket, TokenBucket]] = field(default_factory=dict)

    def _of(self, agent_id: str) -> tuple[TokenBucket, TokenBucket]:
        found = self._buckets.get(agent_id)
        if found is None:
            found = (
                TokenBucket(self.per_s, self.burst),
                TokenBucket(self.bytes_per_s, self.bytes_burst),
            )
            self._buckets[agent_id] = found
        return found

    def retry_after(self, agent_id: str, size: int, now: float | None = None) -> float:
        """Seconds until a mutation of ``size`` bytes would be admitted (0: now)."""
        now = time.monotonic() if now is None else now
        count, volume = self._of(agent_id)
        return max(count.shortfall(1, now), volume.shortfall(size, now))

    def admit(self, agent_id: str, size: int, now: float | None = None) -> float:
        """Take a mutation of ``size`` bytes from the agent's buckets if both have room;
        otherwise take nothing.  Returns 0 if admitted, else seconds until it would be."""
        now = time.monotonic() if now is None else now
        wait = self.retry_after(agent_id, size, now)
        if wait == 0:
            count, volume = self._of(agent_id)
            count.take(1, now)
            volume.take(size, now)
        else:
            self.refused += 1
        return wait


def rate_limited_frame(mutation_id: int, wait_s: float) -> dict[str, object]:
    """The transient refusal of a mutation over its agent's rate; nothing was recorded."""
    seconds = max(1, math.ceil(wait_s))
    return reject_frame(
        mutation_id,
        ErrorCode.RATE_LIMITED,
        f"too many changes at once; send this again in {seconds} s",
        transient=True,
        details={"retry_after": seconds},
    )
