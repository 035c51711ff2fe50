"""The seed's flow end to end: `kargo server` (API + controllers) as a subprocess, the `kargo`
CLI, real git (a git Warehouse and promotion steps that push to a GitOps repo), and
verification with a `web` check against a local HTTP server, a `job` command and a `prometheus`
query against the Debian Prometheus scraping a local target.

A new commit appears; the Warehouse makes Freight; it is auto-promoted to test, verified there,
auto-promoted to uat, and held for prod until `kargo promote`. Every wait polls the API with a
deadline (the server runs on the wall clock; no test sleeps a fixed time to pass)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import yaml

from tests.fixtures.git import run as git_run
from tests.fixtures.server import start_kargo_server

PROJECT = "pipeline"
API = "kargo.akuity.io/v1alpha1"
DEADLINE = 60.0


@pytest.fixture
def server(tmp_path):
    srv = start_kargo_server(tmp_path, components="api,controllers")
    try:
        yield srv
    finally:
        srv.stop()


class Driver:
    """The CLI and a bearer-token HTTP client on one server."""

    def __init__(self, server, cli):
        self.server = server
        self.cli = cli
        cli.login(server.url)
        config = yaml.safe_load((cli.home / ".config" / "kargo" / "config").read_text())
        token = config.get("bearerToken") or config.get("bearer_token") or config.get("token")
        self.http = httpx.Client(
            base_url=f"{server.url}/v1beta1/projects/{PROJECT}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def kargo(self, *args, ok=True, stdin=None):
        result = self.cli.run(*args, stdin=stdin, timeout=120)
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr, self.server.logs())
        return result

    def apply(self, tmp_path, docs):
        path = tmp_path / f"m{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        self.kargo("apply", "-f", str(path))

    def get(self, path):
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def until(self, what, predicate, deadline=DEADLINE):
        end = time.monotonic() + deadline
        last = None
        while time.monotonic() < end:
            last = predicate()
            if last:
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.server.logs()[-6000:]}")

    def stage(self, name):
        return self.get(f"/stages/{name}").get("status") or {}

    def current(self, stage):
        history = self.stage(stage).get("freightHistory") or []
        return history[0]["items"]["Warehouse/app"]["name"] if history else None

    def verification(self, stage):
        history = self.stage(stage).get("freightHistory") or []
        infos = history[0].get("verificationHistory") or [] if history else []
        return infos[0] if infos else {}

    def freight_for(self, commit):
        for item in self.get("/freight")["items"]:
            if item["commits"][0]["id"] == commit:
                return item
        return None

    def refresh(self, commit):
        self.kargo("refresh", "warehouse", "app", "--wait", "--project", PROJECT)
        return self.until(f"freight for {commit}", lambda: self.freight_for(commit))

    def promotions(self, stage):
        return [p for p in self.get("/promotions")["items"] if p["spec"]["stage"] == stage]

    def events(self):
        return self.get("/events")["items"]


def project_docs(src_url, policies):
    return [
        {"apiVersion": API, "kind": "Project", "metadata": {"name": PROJECT}},
        {
            "apiVersion": API,
            "kind": "ProjectConfig",
            "metadata": {"name": PROJECT, "namespace": PROJECT},
            "spec": {"promotionPolicies": policies},
        },
        {
            "apiVersion": API,
            "kind": "Warehouse",
            "metadata": {"name": "app", "namespace": PROJECT},
            "spec": {"interval": "5m", "subscriptions": [{"git": {"repoURL": src_url}}]},
        },
    ]


def git_steps(gitops_url):
    """Check out (or create) the Stage's branch of the GitOps repo, write the promoted commit."""
    return [
        {
            "uses": "git-clone",
            "config": {
                "repoURL": gitops_url,
                "checkout": [{"branch": "env/${{ ctx.stage }}", "create": True, "path": "./out"}],
            },
        },
        {
            "uses": "file-write",
            "config": {
                "path": "./out/${{ ctx.stage }}/VERSION",
                "contents": "${{ commitFrom(vars.src).ID }} rollback=${{ ctx.meta.promotion.rollback }}",
                "overwrite": True,
            },
        },
        {"uses": "git-commit", "config": {"path": "./out", "message": "promote ${{ ctx.stage }}"}},
        {"uses": "git-push", "config": {"path": "./out"}},
    ]


def stage_doc(name, requested, gitops_url, src_url, verification=None):
    spec = {
        "vars": [{"name": "src", "value": src_url}],
        "requestedFreight": [
            {"origin": {"kind": "Warehouse", "name": "app"}, "sources": requested}
        ],
        "promotionTemplate": {"spec": {"steps": git_steps(gitops_url)}},
    }
    if verification:
        spec["verification"] = verification
    return {
        "apiVersion": API,
        "kind": "Stage",
        "metadata": {"name": name, "namespace": PROJECT},
        "spec": spec,
    }


def smoke_template():
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "smoke", "namespace": PROJECT},
        "spec": {
            "args": [{"name": "url"}, {"name": "commit"}, {"name": "prometheus"}],
            "metrics": [
                {
                    "name": "web",
                    "provider": {"web": {"url": "{{args.url}}/health", "jsonPath": "{$.ok}"}},
                    "successCondition": "result == true",
                },
                {
                    "name": "job",
                    "provider": {
                        "job": {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "check",
                                                "command": [
                                                    "sh",
                                                    "-c",
                                                    "test -n '{{args.commit}}'",
                                                ],
                                            }
                                        ]
                                    }
                                }
                            }
                        }
                    },
                },
                {
                    "name": "prometheus",
                    "provider": {
                        "prometheus": {"address": "{{args.prometheus}}", "query": "app_ready"}
                    },
                    "successCondition": "result[0] == 1",
                },
            ],
        },
    }


def branch_file(git_server, stage):
    bare = git_server.bare_path("gitops")
    return git_run(["show", f"env/{stage}:{stage}/VERSION"], bare)


def test_new_version_flows_to_test_and_uat_verified_and_waits_for_prod(
    server, kargo_cli, git_open_server, metrics_target, prometheus, tmp_path
):
    metrics_target.state.json_by_path["/health"] = {"ok": True}
    metrics_target.state.gauges["app_ready"] = 1
    prometheus.wait_for_series("app_ready")
    src_url = git_open_server.create_repo("app")
    gitops_url = git_open_server.create_repo("gitops")
    git_open_server.writer("gitops").commit({"README": "gitops"}, "init")
    first = git_open_server.writer("app").commit({"v": "1"}, "v1")
    d = Driver(server, kargo_cli)
    verification = {
        "analysisTemplates": [{"name": "smoke"}],
        "args": [
            {"name": "url", "value": metrics_target.url},
            {"name": "commit", "value": "${{ commitFrom(vars.src).ID }}"},
            {"name": "prometheus", "value": prometheus.url},
        ],
    }
    d.apply(
        tmp_path,
        project_docs(
            src_url,
            [{"stageSelector": {"name": "regex:^(test|uat)$"}, "autoPromotionEnabled": True}],
        ),
    )
    d.apply(
        tmp_path,
        [
            smoke_template(),
            stage_doc("test", {"direct": True}, gitops_url, src_url, verification),
            stage_doc("uat", {"stages": ["test"]}, gitops_url, src_url),
            stage_doc("prod", {"stages": ["uat"]}, gitops_url, src_url),
        ],
    )
    freight = d.refresh(first)
    name = freight["metadata"]["name"]
    d.until("uat runs the new freight", lambda: d.current("uat") == name)
    info = d.verification("test")
    assert info["phase"] == "Successful", info
    run = d.get(f"/analysis-runs/{info['analysisRun']['name']}")
    assert {r["name"]: r["phase"] for r in run["status"]["metricResults"]} == {
        "web": "Successful",
        "job": "Successful",
        "prometheus": "Successful",
    }
    assert branch_file(git_open_server, "test").startswith(first)
    assert branch_file(git_open_server, "uat").startswith(first)
    verified = d.get(f"/freight/{name}")["status"]["verifiedIn"]
    assert set(verified) == {"test", "uat"}
    # prod is held: no policy, so nothing happens until a human promotes
    d.until("uat status settled", lambda: d.stage("uat").get("freightSummary") == name)
    assert not d.promotions("prod")
    assert d.stage("test")["autoPromotionEnabled"] is True
    assert d.stage("prod")["autoPromotionEnabled"] is False
    out = d.kargo(
        "promote",
        "--project",
        PROJECT,
        "--freight-alias",
        freight["alias"],
        "--stage",
        "prod",
        "--wait",
    )
    assert "Succeeded" in out.stdout
    assert d.current("prod") == name
    assert branch_file(git_open_server, "prod") == f"{first} rollback=false"
    events = d.events()
    assert any(e["reason"] == "PromotionCreated" and e["actor"] == "admin" for e in events), events
    assert any(e["reason"] == "FreightVerificationSucceeded" for e in events)
    table = d.kargo("get", "events", "--project", PROJECT).stdout
    assert "PromotionSucceeded" in table
    assert "admin" in table


def test_fan_in_soak_and_rejection(server, kargo_cli, git_open_server, tmp_path):
    src_url = git_open_server.create_repo("app")
    gitops_url = git_open_server.create_repo("gitops")
    git_open_server.writer("gitops").commit({"README": "gitops"}, "init")
    writer = git_open_server.writer("app")
    first = writer.commit({"v": "1"}, "v1")
    d = Driver(server, kargo_cli)
    d.apply(
        tmp_path,
        project_docs(
            src_url, [{"stageSelector": {"name": "regex:^(a|join)$"}, "autoPromotionEnabled": True}]
        ),
    )
    d.apply(
        tmp_path,
        [
            stage_doc("a", {"direct": True}, gitops_url, src_url),
            stage_doc("b", {"direct": True}, gitops_url, src_url),
            stage_doc(
                "join",
                {"stages": ["a", "b"], "availabilityStrategy": "All", "requiredSoakTime": "2s"},
                gitops_url,
                src_url,
            ),
        ],
    )
    f1 = d.refresh(first)["metadata"]["name"]
    d.until("a takes f1", lambda: d.current("a") == f1)
    assert d.current("join") is None  # verified in a only: All needs b too
    d.kargo("promote", "--project", PROJECT, "--freight", f1, "--stage", "b", "--wait")
    d.until(
        "join takes f1 after both upstreams verified and soaked", lambda: d.current("join") == f1
    )
    joined = d.get(f"/freight/{f1}")["status"]
    assert joined["currentlyIn"]["join"]["since"] >= max(
        joined["currentlyIn"]["a"]["since"], joined["currentlyIn"]["b"]["since"]
    )

    second = writer.commit({"v": "2"}, "v2")
    f2 = d.refresh(second)["metadata"]["name"]
    d.kargo(
        "reject", "--freight", f2, "--stage", "join", "--reason", "CVE-2026-1", "--project", PROJECT
    )
    d.kargo("promote", "--project", PROJECT, "--freight", f2, "--stage", "b", "--wait")
    d.until("a and b take f2", lambda: d.current("a") == f2 and d.current("b") == f2)
    # soaked long enough to be available, were it not rejected: join keeps f1
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        assert d.current("join") == f1
        time.sleep(0.2)
    assert not [p for p in d.promotions("join") if p["spec"]["freight"] == f2]
    refused = d.kargo("promote", "--project", PROJECT, "--freight", f2, "--stage", "join", ok=False)
    assert refused.returncode != 0
    assert "rejected" in refused.stderr
    assert "CVE-2026-1" in refused.stderr
    rejected = [e for e in d.events() if e["reason"] == "FreightRejected"]
    assert rejected[0]["actor"] == "admin"
    assert "CVE-2026-1" in rejected[0]["message"]


def test_verification_failure_stops_the_flow_then_rollback_and_abort(
    server, kargo_cli, git_open_server, tmp_path
):
    src_url = git_open_server.create_repo("app")
    gitops_url = git_open_server.create_repo("gitops")
    git_open_server.writer("gitops").commit({"README": "gitops"}, "init")
    writer = git_open_server.writer("app")
    first = writer.commit({"v": "1"}, "v1")
    healthy = tmp_path / "healthy"
    healthy.write_text("")
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "check", "namespace": PROJECT},
        "spec": {
            "metrics": [
                {
                    "name": "healthy",
                    "provider": {
                        "job": {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "c",
                                                "command": [
                                                    "sh",
                                                    "-c",
                                                    f"test -f {healthy}",
                                                ],
                                            }
                                        ]
                                    }
                                }
                            }
                        }
                    },
                }
            ]
        },
    }
    d = Driver(server, kargo_cli)
    d.apply(
        tmp_path,
        project_docs(
            src_url, [{"stageSelector": {"name": "glob:*"}, "autoPromotionEnabled": True}]
        ),
    )
    d.apply(
        tmp_path,
        [
            template,
            stage_doc(
                "test",
                {"direct": True},
                gitops_url,
                src_url,
                {"analysisTemplates": [{"name": "check"}]},
            ),
            stage_doc("uat", {"stages": ["test"]}, gitops_url, src_url),
        ],
    )
    f1 = d.refresh(first)["metadata"]["name"]
    d.until("uat takes f1", lambda: d.current("uat") == f1)

    # A verification failure stops the flow downstream.
    healthy.unlink()
    second = writer.commit({"v": "2"}, "v2")
    f2 = d.refresh(second)["metadata"]["name"]
    d.until(
        "test's verification of f2 fails",
        lambda: d.current("test") == f2 and d.verification("test").get("phase") == "Failed",
    )
    assert d.stage("test")["health"]["status"] == "Unhealthy"
    assert "test" not in (d.get(f"/freight/{f2}")["status"].get("verifiedIn") or {})
    assert d.current("uat") == f1
    assert not [p for p in d.promotions("uat") if p["spec"]["freight"] == f2]

    # Rolling back: promoting the older f1 is marked as a rollback, for steps and in history.
    healthy.write_text("")
    out = d.kargo("promote", "--project", PROJECT, "--freight", f1, "--stage", "test", "--wait")
    assert "Succeeded" in out.stdout
    history = d.stage("test")["freightHistory"]
    assert history[0]["items"]["Warehouse/app"]["name"] == f1
    assert history[0]["rollback"] is True
    bare = git_open_server.bare_path("gitops")
    assert git_run(["show", "env/test:test/VERSION"], bare) == f"{first} rollback=true"

    # Abort: while a slow re-verification runs (a second measurement due in 30s), a new
    # Promotion waits; abort it, then the verification.
    d.until("f1 verified again", lambda: d.verification("test").get("phase") == "Successful")
    slow = json.loads(json.dumps(template))
    slow["metadata"]["name"] = "slow"
    slow["spec"]["metrics"][0].update({"count": 2, "interval": "30s"})
    d.apply(
        tmp_path,
        [
            slow,
            stage_doc(
                "test",
                {"direct": True},
                gitops_url,
                src_url,
                {"analysisTemplates": [{"name": "slow"}]},
            ),
        ],
    )
    d.kargo("verify", "stage", "test", "--project", PROJECT)
    d.until("re-verification running", lambda: d.verification("test").get("phase") == "Running")
    d.kargo("promote", "--project", PROJECT, "--freight", f2, "--stage", "test")
    waiting = d.until(
        "a waiting promotion",
        lambda: [
            p
            for p in d.promotions("test")
            if p["spec"]["freight"] == f2
            and (p.get("status") or {}).get("phase") in (None, "Pending")
        ],
    )[0]
    name = waiting["metadata"]["name"]
    assert d.verification("test").get("phase") == "Running"
    d.kargo("promote", "--project", PROJECT, "--name", name, "--abort")
    d.until(
        "the promotion aborted",
        lambda: (d.get(f"/promotions/{name}").get("status") or {}).get("phase") == "Aborted",
    )
    d.kargo("verify", "stage", "test", "--abort", "--project", PROJECT)
    d.until("verification aborted", lambda: d.verification("test").get("phase") == "Aborted")
    assert d.current("test") == f1
    reasons = {(e["reason"], e["actor"]) for e in d.events()}
    assert ("PromotionAbortRequested", "admin") in reasons
    assert ("VerificationAbortRequested", "admin") in reasons
    assert ("FreightVerificationAborted", "admin") in reasons
