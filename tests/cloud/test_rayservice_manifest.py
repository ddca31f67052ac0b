"""deploy/rayservice.yaml cannot run here (no Kubernetes): its Serve config is validated against Ray Serve's
own schema, and the application it names is built from its arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray.serve", reason="the [ray] extra is not installed")

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "rayservice.yaml"


def test_rayservice_serve_config_is_valid_and_matches_the_app() -> None:
    import ray
    from ray.serve.schema import ServeDeploySchema

    from cloud.serving.ray_app import DEPLOYMENT_NAME, SERVICER_FUNCTION, app_builder, deployment_options, user_config
    from cloud.serving.settings import ServeSettings

    manifest = yaml.safe_load(MANIFEST.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayService")
    assert manifest["spec"]["rayClusterConfig"]["rayVersion"] == ray.__version__
    config = ServeDeploySchema.parse_obj(yaml.safe_load(manifest["spec"]["serveConfigV2"]))  # raises on any unknown or bad field
    assert config.grpc_options is not None and config.grpc_options.grpc_servicer_functions == [SERVICER_FUNCTION]
    (application,) = config.applications
    settings = ServeSettings(**application.args)
    (deployment,) = application.deployments
    assert deployment.name == DEPLOYMENT_NAME
    assert deployment.user_config == user_config(settings)  # what a version update changes, in the shape reconfigure reads
    assert deployment.max_ongoing_requests == deployment_options(settings)["max_ongoing_requests"]
    assert deployment.autoscaling_config is not None and deployment.ray_actor_options is not None
    assert deployment.autoscaling_config["min_replicas"] == settings.ray_replicas
    assert deployment.autoscaling_config["max_replicas"] == settings.ray_max_replicas
    assert deployment.ray_actor_options.num_cpus == settings.ray_replica_cpus
    module, _, attribute = application.import_path.partition(":")
    assert module == "cloud.serving.ray_app" and attribute == "app_builder"
    app = app_builder(application.args)  # builds without a cluster
    assert app._bound_deployment.name == DEPLOYMENT_NAME


def test_a_bad_field_is_refused_by_the_schema() -> None:
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(yaml.safe_load(MANIFEST.read_text())["spec"]["serveConfigV2"])
    config["applications"][0]["deployments"][0]["max_ongoing_requests"] = -1
    with pytest.raises(Exception, match="max_ongoing_requests"):
        ServeDeploySchema.parse_obj(config)
