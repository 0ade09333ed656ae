"""``manage.py remediate ACTION [ORDER_ID ...]``: preview or run an ops remediation from a script.

One order: without ``--expected-seq`` the command previews first and executes against that preview's position,
so a script still fails closed if the order moves on between the two. ``--preview`` only prints what would be
inserted.

Many orders (bulk): several order ids, or filters (``--state``, ``--pipeline``, ``--step``, ``--code``,
``--error-class``, ``--since``, ``--limit``) instead of an id. ``--preview`` prints every order's plan and inserts
nothing; otherwise the allowed orders run as one bulk run (``checkout.bulk_remediation``) in batches, each order
with the stale guard of its own preview. ``--run RUN_ID`` continues a run that stopped half-way. A plan whose run
already finished (the same orders, positions and ops actions as a run before) is refused: nothing runs again.
``--again RUN_ID`` runs that finished run's plan once more as a new run, recorded as a re-run of it; the same
``--again`` again is refused like any finished run.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout import bulk_remediation, bulk_run_ids, bulk_run_progress, bulk_selection, ops_actions
from pipelines import ServiceError, actions

FILTERS = ("state", "pipeline", "step", "code", "error_class", "since", "limit")
# Each action's own parameters (ops_actions.PARAMS), by the flag that gives them.
FLAGS = {
    "courier_id": "--courier",
    "approved": "--approve/--decline",
    "checkpoint_id": "--checkpoint",
    "new_effect_keys": "--new-effect-keys",
}
# A refusal's details name the API's fields; the operator typed these flags (``ServiceError.summary_naming``).
FIELD_FLAGS = {
    **actions.WHO_FLAGS,
    **{ops_actions.FIELDS[name]: flag for name, flag in FLAGS.items()},
    **{name: f"--{name.replace('_', '-')}" for name in FILTERS},
    "runId": "--run",
    "againOf": "--again",
}


class Command(BaseCommand):
    help = (
        "Preview or run a remediation (redrive, assign-courier, ops-cancel, resolve-payment-review, fork) on an order, "
        "on several, or on every order the filters select."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=ops_actions.ACTIONS)
        parser.add_argument("order_ids", nargs="*", metavar="ORDER_ID")
        parser.add_argument("--reason", help="why (required to execute; recorded in the OpsAction)")
        parser.add_argument("--actor", default=None, help="who (default: the OS user, prefixed 'cli:')")
        parser.add_argument("--courier", dest="courier_id", help="assign-courier: the courier id")
        parser.add_argument("--checkpoint", dest="checkpoint_id", help="fork: the checkpoint to re-run the order from")
        parser.add_argument(
            "--new-effect-keys",
            dest="new_effect_keys",
            action="store_true",
            default=None,
            help="fork: external effects get keys of their own (the gateway may charge again); default: reuse",
        )
        decision = parser.add_mutually_exclusive_group()
        decision.add_argument("--approve", dest="approved", action="store_true", default=None)
        decision.add_argument("--decline", dest="approved", action="store_false")
        parser.add_argument("--preview", action="store_true", help="print what would be inserted; change nothing")
        parser.add_argument("--expected-seq", type=int, help="one order: the expectedSeq of an earlier preview")
        bulk = parser.add_argument_group("bulk: select orders instead of naming them")
        bulk.add_argument("--state", choices=bulk_selection.STATES, help="dead_letter, stalled or waiting orders")
        bulk.add_argument("--pipeline", help="only failures (waiting: waits) in this pipeline")
        bulk.add_argument("--step", help="only failures at this step (waiting: waits at this await)")
        bulk.add_argument("--code", help="only failures with this error code (e.g. PAYMENT_GATEWAY_UNAVAILABLE)")
        bulk.add_argument("--error-class", dest="error_class", help="only failures with this error class")
        bulk.add_argument(
            "--since", help="only orders parked (waiting: whose wait opened) since this ISO date or date-time"
        )
        bulk.add_argument("--limit", help="at most this many orders")
        bulk.add_argument("--run", dest="run_id", help="continue the bulk run with this id where it stopped")
        bulk.add_argument(
            "--again",
            dest="again_of",
            metavar="RUN_ID",
            help="run the orders of this finished bulk run once more, as a new run (its plan must be this preview's)",
        )

    def handle(self, *args: str, **options: Any) -> None:
        action = options["action"]
        params = {k: options[k] for k in ops_actions.PARAMS[action] if options.get(k) is not None}
        foreign = [k for k in FLAGS if options.get(k) is not None and k not in ops_actions.PARAMS[action]]
        if foreign:  # it would be ignored: the operator meant another action, or another order's command line
            raise CommandError(f"{action} takes no {', '.join(FLAGS[k] for k in foreign)}")
        for name in (*FILTERS, "run_id", "again_of"):  # the console reads an empty field as unset; "$UNSET" is a slip
            if options.get(name) is not None and not str(options[name]).strip():
                flag = {"run_id": "--run", "again_of": "--again"}.get(name, f"--{name.replace('_', '-')}")
                raise CommandError(f"{flag} is empty: give it a value or leave it out")
        filtered = any(options.get(k) is not None for k in FILTERS)
        try:
            if options["run_id"]:
                if options["order_ids"] or filtered:  # the run goes on with its own stored plan
                    raise CommandError("--run continues a stored run as planned: name no order and no filter with it")
                if options["again_of"]:
                    raise CommandError(
                        "--run continues a stored run; --again makes a new run of a finished one: not both"
                    )
                shown = bulk_remediation.run_to_end(options["run_id"], action=action)
                self._print(shown)
                self._judge(shown)
            elif filtered or len(options["order_ids"]) != 1:
                self._bulk(action, params, options, filtered)
            elif options["again_of"]:
                raise CommandError("--again repeats a bulk run: one order is acted on again without it")
            else:
                self._one(action, options["order_ids"][0], params, options)
        except ServiceError as exc:
            given = {"expectedSeq": "--expected-seq"} if options["expected_seq"] is not None else {}
            raise CommandError(exc.summary_naming({**FIELD_FLAGS, **given}))

    def _one(self, action: str, order_id: str, params: dict[str, Any], options: dict[str, Any]) -> None:
        shown = ops_actions.preview(action, order_id, **params)
        if options["preview"]:
            self._print(shown)
            return
        expected = options["expected_seq"] if options["expected_seq"] is not None else shown["expectedSeq"]
        view = ops_actions.execute(
            action,
            order_id,
            actor=self._actor(options),
            reason=options["reason"] or "",
            expected_seq=expected,
            **params,
        )
        self._print(view)

    def _bulk(self, action: str, params: dict[str, Any], options: dict[str, Any], filtered: bool) -> None:
        if filtered and options["order_ids"]:
            raise CommandError("name orders or select them with filters, not both")
        if not filtered and not options["order_ids"]:
            raise CommandError("name an order, or select orders with --state and the other filters")
        if options["expected_seq"] is not None:
            raise CommandError("--expected-seq applies to one order; a bulk run takes each order's own preview")
        if filtered:
            chosen = bulk_selection.parse(**{k: options[k] for k in FILTERS})
            orders: list[Any] = bulk_selection.select(chosen)
        else:
            orders = list(dict.fromkeys(options["order_ids"]))
        shown = bulk_remediation.preview(action, orders, **params)
        plan = bulk_remediation.plan_of(shown)
        again = self._again(action, params, plan, options["again_of"])
        if plan:
            shown["runId"] = str(bulk_run_ids.plan_run_id(action, params, plan, again_of=again))
        if options["preview"]:
            self._print(shown)
            return
        if shown["runId"] is not None:  # the same plan again: its run's first results are no news
            try:
                bulk_remediation.refuse_finished(shown["runId"])
            except ServiceError as exc:
                raise CommandError(f"{exc.summary}; to run its orders once more as a new run: --again {shown['runId']}")
        run = bulk_remediation.submit(
            action, plan, actor=self._actor(options), reason=options["reason"] or "", again_of=again, **params
        )
        again_note = f" (a re-run of bulk run {run.again_of})" if run.again_of else ""
        self.stderr.write(
            f"bulk run {run.id}{again_note}: {run.total} orders; {shown['refused']} not allowed (see --preview)"
        )
        progress = bulk_remediation.advance(run.id)
        while not progress["finished"] and progress["mine"]:
            self.stderr.write(f"  {progress['processed']}/{progress['total']}")
            progress = bulk_remediation.advance(run.id)
        self._print({**progress, "results": bulk_run_progress.results(run.id)})
        self._judge(progress)

    def _again(self, action: str, params: dict[str, Any], plan: bulk_run_ids.Plan, named: str | None) -> Any:
        """The run this plan's run repeats: the one ``--again`` names (checked), else the one this plan's newest run
        repeats (a re-run that stopped half-way goes on; a finished one is refused by its own id), else none."""
        if named is not None:
            if not plan:
                raise CommandError("--again: the preview allowed no order, so there is nothing to run again")
            return bulk_remediation.check_again(named, action, params, plan)
        last = bulk_run_ids.last_run(action, params, plan) if plan else None
        return last.again_of if last is not None else None

    def _judge(self, progress: dict[str, Any]) -> None:
        """A script must not read a run with failures, or one left to another process, as done: exit status 1."""
        if progress["failed"]:
            raise CommandError(
                f"bulk run {progress['runId']}: {progress['failed']} of {progress['total']} orders failed"
            )
        if not progress["finished"]:
            raise CommandError(
                f"bulk run {progress['runId']}: {progress['processed']} of {progress['total']} orders processed; "
                "another process is running it (continue or follow it with --run)"
            )

    def _actor(self, options: dict[str, Any]) -> str:
        return str(options["actor"] or f"cli:{getpass.getuser()}")

    def _print(self, data: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
