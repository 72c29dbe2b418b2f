"""The fault plans, one module each, in the order `--plan all` runs them."""

from chaos.plan import Plan
from chaos.plans.ambiguous import AmbiguousWrites
from chaos.plans.bad_input import BadInput
from chaos.plans.canary_scan import Canaries
from chaos.plans.forged import Forged
from chaos.plans.graceful import GracefulShutdown
from chaos.plans.http_storms import HttpStorms
from chaos.plans.malformed import MalformedBodies
from chaos.plans.outage import Outage
from chaos.plans.review_queue import ReviewQueue
from chaos.plans.soak import Soak
from chaos.plans.temporal_restart import TemporalRestart
from chaos.plans.vault import VaultFaults
from chaos.plans.worker_kill import WorkerKill

PLANS: tuple[type[Plan], ...] = (
    WorkerKill,
    TemporalRestart,
    GracefulShutdown,
    AmbiguousWrites,
    HttpStorms,
    Outage,
    ReviewQueue,
    MalformedBodies,
    VaultFaults,
    BadInput,
    Forged,
    Soak,
    Canaries,  # last: it looks for the canaries every plan before it carried
)

BY_NAME = {plan.name: plan for plan in PLANS}
