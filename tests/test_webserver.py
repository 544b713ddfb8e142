"""The real Dagster webserver loads the code location and lists every asset, check, job and schedule."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO, free_port, graphql
from pipelines.definitions import defs

QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        jobs { name }
        schedules { name cronSchedule scheduleState { status } }
        sensors { name }
        assetNodes {
          assetKey { path }
          assetChecksOrError { ... on AssetChecks { checks { name } } }
        }
      }
    }
  }
}
"""



@pytest.fixture
def webserver(tmp_path):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "LIFECYCLE_HOME": str(tmp_path / "home")}
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                assert server.poll() is None, "webserver exited during start-up"
                time.sleep(1)
        else:
            pytest.fail("webserver did not answer within 180 s")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_ui_lists_every_asset_check_job_and_schedule(webserver):
    data = graphql(webserver, QUERY)
    (location,) = data["workspaceOrError"]["locationEntries"]
    assert location["loadStatus"] == "LOADED"
    assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
    (repository,) = data["repositoriesOrError"]["nodes"]

    graph = defs.resolve_asset_graph()
    expected_assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    listed_assets = {"/".join(node["assetKey"]["path"]) for node in repository["assetNodes"]}
    assert expected_assets <= listed_assets

    expected_checks = {key.name for key in graph.asset_check_keys}
    listed_checks = {
        check["name"]
        for node in repository["assetNodes"]
        for check in (node["assetChecksOrError"].get("checks") or [])
    }
    assert expected_checks and expected_checks == listed_checks

    assert "nightly_lifecycle" in {job["name"] for job in repository["jobs"]}
    (schedule,) = repository["schedules"]
    assert (schedule["name"], schedule["cronSchedule"]) == ("nightly_schedule", "0 2 * * *")
    assert schedule["scheduleState"]["status"] == "RUNNING"
    assert {sensor["name"] for sensor in repository["sensors"]} == {"new_source_files", "alert_on_failure"}
