"""The JSON API's schemas: what each view validates its input with and serialises its answer
through, and what /api/v1/openapi.json is generated from (webui/apidoc.py).

A response model forbids fields it does not declare, so a view that starts returning a
new field fails its tests until the field is declared here, and so documented.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from hpsearch.status import StudyStatus, TrialStatus

MAX_PER_PAGE = 200


class Out(BaseModel):
    """A response body: exactly the fields declared, each with its type and nullability."""

    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    """Query parameters: unknown ones are ignored (as HTTP does), known ones checked."""

    model_config = ConfigDict(extra="ignore")


Timestamp = Optional[str]  # ISO 8601, UTC, seconds ("2026-12-01T12:00:00Z"); null when not yet


# -- errors ---------------------------------------------------------------------------------
class Error(Out):
    error: str = Field(description="the HTTP reason, lower case")
    message: str
    status: int


class FieldProblem(Out):
    field: str
    message: str


class SpecProblems(Out):
    """An invalid spec: every problem at once, each naming its field."""

    error: str
    message: str
    fields: list[FieldProblem]
    status: int = 422


# -- studies --------------------------------------------------------------------------------
class Worker(Out):
    node_id: Optional[str] = Field(description="the Ray node's id")
    host: Optional[str] = Field(description="the node's host name")
    ip: Optional[str] = Field(description="the node's IP address")
    slot: Optional[int] = Field(description="the node's concurrency slot the trial took (the "
                                            "timeline's lane)")
    label: str = Field(description="host (node id) · slot k, as the pages show it")


class Trial(Out):
    number: int
    status: TrialStatus
    params: dict[str, Any]
    value: Optional[float] = Field(description="the study metric's final value")
    best_value: Optional[float] = Field(description="the best value the trial reported")
    iterations: int
    error: Optional[str]
    started_at: Timestamp
    finished_at: Timestamp
    imported_from: Optional[str] = Field(description="the study a warm-start trial came from")
    notes: Optional[str] = Field(description="Markdown")
    worker: Optional[Worker] = Field(description="where the trial (last) ran; null: never recorded")
    columns: Optional[dict[str, Any]] = Field(
        None, description="in a trials page with `cols`: the extra columns asked for")


class DispatcherNote(Out):
    alive: int
    names: list[str]
    start: str


class Study(Out):
    id: int
    name: str
    status: StudyStatus
    owner: Optional[str]
    trainable: str
    searcher: str
    scheduler: str
    metric: str
    mode: Literal["min", "max"]
    n_trials: int = Field(description="the budget")
    trials_done: int = Field(description="trials this study ran to their end (toward the budget)")
    trials_total: int = Field(description="every trial row, imported ones included")
    trials_imported: int = Field(description="trials imported by warm start (never the best)")
    counts: dict[str, int] = Field(description="trials by status")
    best_value: Optional[float] = Field(description="the best trial's value (never an imported one)")
    cancel_requested: bool
    created_at: Timestamp
    started_at: Timestamp
    finished_at: Timestamp
    duration_s: Optional[float]
    error: Optional[str]
    end_reason: Optional[str] = Field(
        None, description="why a finished study ended: its budget ran, its time limit passed, "
                          "a cancel")
    waiting: Optional[str] = Field(
        None, description="while it runs on a cluster: what its trials wait for when no node "
                          "can run one (a node that fits has to join)")
    tags: list[str]
    archived_at: Timestamp
    init_source: Optional[dict[str, Any]] = Field(
        None, description="cold start: the trial this study's trials started from")
    warm_start_picked: Optional[list[Any]] = Field(
        None, description="warm_start: auto's picks, and why")


class StudyDetail(Study):
    best_trial: Optional[Trial] = Field(description="the scored trial with the best value")
    dispatchers: Optional[DispatcherNote] = Field(
        description="for a QUEUED study: the dispatchers alive to run it")


class StudyWithNotes(Study):
    notes: Optional[str] = Field(description="Markdown")


class Deleted(Out):
    id: int
    deleted: bool


class StudyChanges(BaseModel):
    """Any of these (every problem named at once)."""

    model_config = ConfigDict(extra="forbid")
    notes: Optional[str] = Field(None, description="Markdown; null clears")
    tags: Optional[list[str]] = None
    archived: Optional[bool] = None


class TrialNotes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notes: Optional[str] = Field(description="Markdown; null clears")


class StudyComparisonRow(Study):
    trials_to_best: Optional[int]
    time_to_best_s: Optional[float]


class StudyFilters(Out):
    status: Optional[StudyStatus]
    trainable: Optional[str]
    searcher: Optional[str]
    q: Optional[str]
    tag: Optional[str]
    archived: Literal["0", "1", "all"]


class StudyChoices(Out):
    status: list[StudyStatus]
    trainable: list[str]
    searcher: list[str]


class StudyPage(Out):
    items: list[Study]
    total: int
    page: int
    per_page: int
    sort: str
    filters: StudyFilters
    choices: StudyChoices


class TrialPage(Out):
    items: list[Trial]
    total: int
    page: int
    per_page: int
    pages: int
    sort: str
    status: Optional[TrialStatus]
    params: dict[str, Any] = Field(description="the param filters applied")
    metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="the metric filters applied: {NAME: {min, max, gt, lt}}")
    columns: list[str] = Field(default_factory=list, description="the extra columns asked for")


class Event(Out):
    status: str
    at: Timestamp
    message: Optional[str]


class Checkpoint(Out):
    path: str
    index: Optional[int]
    iteration: int
    on_this_host: bool
    size_bytes: Optional[int]
    modified_at: Timestamp
    files: Optional[int]


class ResultRow(Out):
    iteration: int
    value: Optional[float]
    metrics: dict[str, Any]


class TrialDetail(Trial):
    events: list[Event]
    checkpoint: Optional[Checkpoint]
    last_metrics: dict[str, Any]
    results: list[ResultRow] = Field(default_factory=list, description="absent in a PATCH answer")


class NewResult(Out):
    id: int
    trial: int
    iteration: int
    value: Optional[float]
    metrics: dict[str, Any]


class NewResults(Out):
    results: list[NewResult]
    last_id: Optional[int]
    more: bool


class Figure(BaseModel):
    """A plotly figure (``plotly.io.from_json`` reads it)."""

    model_config = ConfigDict(extra="allow")
    data: list[dict[str, Any]]
    layout: dict[str, Any]


class ParamDiff(Out):
    param: str
    values: list[Any]
    differs: bool


class MetricRef(Out):
    metric: str
    mode: Literal["min", "max"]


class StudyComparison(Out):
    studies: list[StudyComparisonRow]
    best_trials: list[Optional[Trial]]
    params: list[ParamDiff]
    metrics: list[MetricRef] = Field(description="the studies' distinct (metric, mode) pairs")
    metrics_differ: bool = Field(description="the studies optimise different metrics: one panel each")
    figure: Figure


class TrialComparison(Out):
    study_id: int
    trials: list[Trial]
    params: list[ParamDiff]
    figure: Figure


class Cancelled(Out):
    id: int
    status: StudyStatus
    cancelled: bool = Field(description="cancelled at once (it was queued or interrupted)")
    cancel_requested: bool


class Health(Out):
    status: Literal["ok"]


# -- inputs -----------------------------------------------------------------------------------
class PageQuery(In):
    page: int = Field(1, ge=1, le=10**6)
    per_page: Optional[int] = Field(None, ge=1, le=MAX_PER_PAGE)


class StudiesQuery(PageQuery):
    status: Optional[StudyStatus] = None
    trainable: Optional[str] = Field(None, description="model family")
    searcher: Optional[str] = Field(None, description="searcher type")
    q: Optional[str] = Field(None, description="name contains")
    tag: Optional[str] = Field(None, description="studies with this tag")
    archived: Optional[Literal["0", "1", "all"]] = Field(
        None, description="0 (default): not archived; 1: archived only; all")
    sort: Optional[str] = Field(None, description="id, name, status, created, trainable, searcher; "
                                                  "prefix - for descending")


class TrialsQuery(PageQuery):
    status: Optional[TrialStatus] = None
    sort: Optional[str] = Field(None, description="number, value, status, iterations, started, "
                                                  "finished, param.NAME or metric.NAME; prefix - "
                                                  "for descending")
    where: Optional[str] = Field(None, description="conditions on metrics' final values, e.g. "
                                                   "model_kb<=200 (<=, <, >=, >; repeat or "
                                                   "comma-separate); also metric.NAME.min/max")
    cols: Optional[str] = Field(None, description="extra columns in each item's `columns`: "
                                                  "duration, or metric.NAME (repeat or comma-separate)")


class TrialsExportQuery(In):
    format: Optional[Literal["csv", "json"]] = Field(None, description="csv (default) or json")
    status: Optional[TrialStatus] = None
    sort: Optional[str] = Field(None, description="as for the trials page")
    where: Optional[str] = Field(None, description="as for the trials page")


class ResultsQuery(In):
    after: Optional[int] = Field(None, ge=0, le=2**63 - 1,
                                 description="the last result id the caller has")


class CompareQuery(In):
    ids: str = Field(description="1 to 10 study ids, comma-separated (or repeated)",
                     pattern=r"^[0-9, ]*$")


class CompareTrialsQuery(In):
    trials: str = Field(description="2 to 20 trial numbers, comma-separated (or repeated)",
                        pattern=r"^[0-9, ]*$")


class PlotQuery(In):
    x: Optional[str] = Field(None, description="contour only: the x parameter (give y too)")
    y: Optional[str] = Field(None, description="contour only: the y parameter")
    metric: Optional[str] = Field(None, description="history, curves and edf: any metric the "
                                                    "trials report instead of the objective")


class SpecYaml(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec_yaml: str = Field(description="a spec as YAML or JSON text")


class NewStudy(BaseModel):
    """A spec as a JSON object (see docs), or ``{"spec_yaml": text}``."""

    model_config = ConfigDict(extra="allow")


# -- trial outputs (webui/outputs.py) ----------------------------------------------------------
class TrialLog(Out):
    """A trial's log (stdout, stderr, logging) after position ``after``: poll with ``end``."""

    study_id: int
    number: int
    status: TrialStatus
    live: bool
    after: int
    end: int
    text: str
    total: int = Field(description="characters the trial printed")
    cut: int = Field(description="characters dropped between the kept head and tail")
    kept: int


class Media(Out):
    id: int
    name: str
    step: int
    kind: str = Field(description="image or plotly")
    bytes: int
    width: Optional[int]
    height: Optional[int]
    trial: int
    url: str


class TrialMedia(Out):
    study_id: int
    number: int
    media: list[Media]
    steps: list[int]


class ComparedMedia(Out):
    study_id: int
    trials: list[int]
    media: list[Media]
    names: list[str]
    steps: list[int]


class LogQuery(In):
    after: int = Field(0, ge=0, le=10**18, description="the `end` of the last answer (0: all)")



# -- deployments (webui/deployments.py) ------------------------------------------------------
class Replicas(Out):
    min: int
    max: int
    autoscale: bool = Field(description="true when Serve scales between min and max")


class Traffic(Out):
    """This web process's view of a deployment's predictions over the last minute."""

    requests: int
    rate_per_s: float
    p50_ms: Optional[float]
    p99_ms: Optional[float]


class Deployment(Out):
    name: str
    status: str = Field(description="QUEUED, STARTING, RUNNING, STOPPING, FAILED (hpsearch/status.py)")
    study: Optional[str]
    study_id: Optional[int]
    trial: Optional[int]
    family: Optional[str]
    replicas: Replicas
    input: Any = Field(description="the model's input as its model card states it")
    output: Any
    task: Optional[str]
    model_sha256: Optional[str]
    created_by: Optional[str]
    created_at: Timestamp
    updated_at: Timestamp
    error: Optional[str]
    serve: Optional[dict[str, Any]] = Field(description="what Ray Serve reports of it")
    predict_url: str


class DeploymentWithTraffic(Deployment):
    traffic: Traffic


class DeploymentList(Out):
    items: list[DeploymentWithTraffic]


class NewDeployment(BaseModel):
    """A deployment to declare: the view checks each field (every problem at once, 422)."""

    model_config = ConfigDict(extra="forbid")
    study: str | int = Field(description="a study's name or id")
    trial: int | Literal["best"] = "best"
    name: Optional[str] = Field(default=None, description="default: the study's name and trial")
    replicas: Optional[int] = Field(default=None, description="a fixed number of replicas")
    autoscale: Optional[str] = Field(default=None, description="MIN-MAX replicas, scaled by load")


class PredictInputs(BaseModel):
    """JSON inputs; an .npz body (Content-Type: application/x-npz, array X) is accepted too."""

    inputs: list[Any] = Field(description="one sample or a batch, in the model's input shape")


class Prediction(Out):
    deployment: str
    study: Optional[str]
    trial: Optional[int]
    outputs: list[Any]
    predictions: Optional[list[int]] = Field(default=None, description="classifiers: argmax")
