"""The app-facing EdgeAgent gRPC service: the wire face of ``edge.ranking.RankingEngine``. Every request is
answered by the edge step, improved by a cloud route when the router says so, and answered before the app's
deadline: on any cloud failure, slowness or shedding the edge answer goes back, marked degraded, with the reason."""

from __future__ import annotations

import time
from collections.abc import Sequence

import grpc

from core.errors import InvalidRequest
from core.routes import ROUTE_NAMES, ROUTES
from edge.ranking import Answer, EdgeModelFailed, RankingEngine, RankQuery
from protos.v1 import agent_pb2, agent_pb2_grpc


class EdgeAgentService(RankingEngine, agent_pb2_grpc.EdgeAgentServicer):
    """Rank(): read the request, run the engine, write the answer."""

    async def Rank(self, request: agent_pb2.RankRequest, context: grpc.aio.ServicerContext) -> agent_pb2.RankResponse:
        """Rank items for one customer."""
        started = time.perf_counter()
        try:
            prepared = self.prepare(self._query(request, context.time_remaining()), started)
        except InvalidRequest as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        except EdgeModelFailed as err:
            await context.abort(grpc.StatusCode.INTERNAL, str(err))
        answer = self.answer_locally(prepared) if prepared.decision.route == "local" else await self.finish(prepared)
        return self._response(answer)

    def _query(self, request: agent_pb2.RankRequest, remaining_s: float | None) -> RankQuery:
        if request.route and request.route not in ROUTE_NAMES:
            self.stats.invalid += 1
            raise InvalidRequest(f"unknown route {request.route}")
        which = request.WhichOneof("user")
        items: Sequence[str] = ()
        ages: Sequence[float] = ()
        counts: Sequence[float] = ()
        if which == "compact_history":
            history = request.compact_history
            items, ages, counts = history.item_ids, history.age_days, history.counts
        elif which == "history":
            rows = [(i.item_id, i.age_days, i.count) for i in request.history.items]  # one pass over the repeated field
            if rows:
                items, ages, counts = zip(*rows, strict=True)
        ctx = request.context
        return RankQuery(items, ages, counts, user_id=request.user_id if which == "user_id" else None, unix_time_s=ctx.unix_time_s,
                         days_since_last_basket=ctx.days_since_last_basket, previous_baskets=ctx.previous_baskets, k=request.k,
                         route=ROUTE_NAMES[request.route] if request.route else None, value=request.value, deadline_s=remaining_s)

    @staticmethod
    def _response(answer: Answer) -> agent_pb2.RankResponse:
        response = agent_pb2.RankResponse(route=ROUTES[answer.route], degraded=answer.degraded, degraded_reason=answer.degraded_reason,
                                          model_version=answer.model_version, cloud_endpoint=answer.cloud_endpoint)
        add = response.items.add  # half the cost of building RankedItem objects and handing them over
        for code, score in zip(answer.item_codes, answer.scores.tolist(), strict=True):
            add(item_id=code, score=score)
        timings = response.timings
        timings.edge_us, timings.router_us = round(answer.edge_us), round(answer.router_us)
        timings.cloud_us, timings.total_us = round(answer.cloud_us), round(answer.total_us)
        return response
