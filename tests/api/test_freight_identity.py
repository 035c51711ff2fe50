"""Freight identity: URL normalization and the Freight ID, checked against Kargo's algorithm."""

from __future__ import annotations

import pytest

from kargo.api import freight_id as fid, urls


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://github.com/Acme/Repo.git/", "https://github.com/acme/repo"),
        ("https://github.com/acme/repo.git", "https://github.com/acme/repo"),
        ("https://user:secret@github.com/acme/repo", "https://github.com/acme/repo"),
        ("http://git.local:8080/a/b.git", "http://git.local:8080/a/b"),
        ("ssh://git@github.com/acme/repo.git", "ssh://git@github.com/acme/repo"),
        ("git@github.com:acme/repo.git", "ssh://git@github.com/acme/repo"),
        ("github.com:acme/repo/", "ssh://github.com/acme/repo"),
        ("git@github.com", "ssh://git@github.com"),
        ("  https://github.com/acme/repo\u200b ", "https://github.com/acme/repo"),
        # a query string: returned unchanged (not even lowercased)
        ("https://github.com/Acme/repo?ref=x", "https://github.com/Acme/repo?ref=x"),
        ("https://host:notaport/x", "https://host:notaport/x"),
        ("not a url at all", "not a url at all"),
        ("", ""),
    ],
)
def test_normalize_git_matches_kargo(raw, expected):
    assert urls.normalize_git(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nginx", "nginx"),
        ("library/nginx", "nginx"),
        ("docker.io/nginx", "nginx"),
        ("docker.io/library/nginx", "nginx"),
        ("index.docker.io/library/nginx", "nginx"),
        ("registry-1.docker.io/library/nginx", "nginx"),
        ("registry-1.docker.io/acme/api", "acme/api"),
        ("acme/api", "acme/api"),
        ("GHCR.io/Acme/Api", "ghcr.io/acme/api"),
        ("ghcr.io/acme/api:1.2.3", "ghcr.io/acme/api"),
        ("localhost:5000/foo", "localhost:5000/foo"),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b"),
        ("public.ecr.aws/nginx/nginx", "public.ecr.aws/nginx/nginx"),
        ("ghcr.io/acme/api@sha256:" + "a" * 64, "ghcr.io/acme/api"),
        ("x", "x"),  # too short to parse: returned as-is
        ("Bad Repo!", "Bad Repo!"),
    ],
)
def test_normalize_image_matches_kargo(raw, expected):
    assert urls.normalize_image(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("oci://ghcr.io/Acme/charts/api", "ghcr.io/acme/charts/api"),
        ("OCI://registry-1.docker.io/bitnamicharts/redis", "bitnamicharts/redis"),
        ("https://charts.example.com", "https://charts.example.com"),
        ("https://Charts.Example.com/stable/", "https://charts.example.com/stable/"),
    ],
)
def test_normalize_chart_matches_kargo(raw, expected):
    assert urls.normalize_chart(raw) == expected


@pytest.mark.parametrize(
    ("elems", "expected"),
    [
        (("https://x", "name"), "https:/x/name"),
        (("https://x/", "name"), "https:/x/name"),
        (("ghcr.io/a/b", ""), "ghcr.io/a/b"),
        (("a//b/./c/..", "d/"), "a/b/d"),
        (("/", ""), "/"),
        (("", ""), ""),
        (("../a", "b"), "../a/b"),
    ],
)
def test_go_path_join_cleans_like_go(elems, expected):
    assert urls.go_path_join(*elems) == expected


ORIGIN = {"kind": "Warehouse", "name": "w"}

# Each expected ID is sha1("<origin>:<sorted parts joined by |>") worked out by hand from §2.
FREIGHT_CASES = [
    pytest.param(
        {
            "origin": ORIGIN,
            "images": [
                {
                    "repoURL": "public.ecr.aws/nginx/nginx",
                    "tag": "1.29.1",
                    "digest": "sha256:abc",
                    "annotations": {"ignored": "yes"},
                }
            ],
        },
        # Warehouse/w:public.ecr.aws/nginx/nginx:1.29.1@sha256:abc
        "586a7b44f505ac607c16565fb7c5c5e45c8b04c7",
        id="one-image",
    ),
    pytest.param(
        {
            "origin": ORIGIN,
            "images": [{"repoURL": "nginx", "tag": "1.0", "digest": "sha256:0"}],
            "commits": [
                {
                    "repoURL": "https://GitHub.com/acme/repo.git",
                    "tag": "v1.0.0",
                    "id": "deadbeef",
                    "message": "not hashed",
                }
            ],
        },
        # Warehouse/w:https://github.com/acme/repo:v1.0.0:deadbeef|nginx:1.0@sha256:0
        "0509168233979e6cd839c49b49ed42fa5bb38829",
        id="commit-with-tag-and-image",
    ),
    pytest.param(
        {
            "origin": ORIGIN,
            "charts": [
                {"repoURL": "https://charts.example.com", "name": "podinfo", "version": "6.5.0"},
                {
                    "repoURL": "oci://ghcr.io/acme/charts/api",
                    "version": "1.2.3",
                    "subscriptionName": "api-chart",
                },
            ],
        },
        # Warehouse/w:ghcr.io/acme/charts/api:1.2.3:api-chart|https:/charts.example.com/podinfo:6.5.0
        "d73ae9b279bd734e4115b0ef70f5f8daf8e6f904",
        id="charts-http-and-oci-sorted-bytewise",
    ),
    pytest.param(
        {
            "origin": ORIGIN,
            "commits": [
                {
                    "repoURL": "git@github.com:acme/repo.git",
                    "id": "cafe",
                    "subscriptionName": "src",
                }
            ],
            "artifacts": [{"artifactType": "myType", "subscriptionName": "sub", "version": "1.0"}],
        },
        # Warehouse/w:myType:sub:1.0|ssh://git@github.com/acme/repo:cafe:src
        "2bfa31b1dadca20d81697b4e01b17f309eeebc26",
        id="scp-commit-and-generic-artifact",
    ),
    pytest.param(
        {"origin": ORIGIN},
        # Warehouse/w:
        "27fe6a4d90176761691f906e1a4775e8ed991924",
        id="no-artifacts",
    ),
]


@pytest.mark.parametrize(("freight", "expected"), FREIGHT_CASES)
def test_freight_id_matches_hand_computed_sha1(freight, expected):
    assert fid.freight_id(freight) == expected


def test_freight_id_ignores_artifact_order_and_unhashed_fields():
    a = {"repoURL": "ghcr.io/a", "tag": "1", "digest": "sha256:1"}
    b = {"repoURL": "ghcr.io/b", "tag": "2", "digest": "sha256:2", "annotations": {"x": "y"}}
    one = fid.freight_id({"origin": ORIGIN, "images": [a, b]})
    two = fid.freight_id({"origin": ORIGIN, "images": [b, {**a, "annotations": {"z": "1"}}]})
    assert one == two


def test_freight_id_changes_when_a_commit_is_retagged():
    commit = {"repoURL": "https://github.com/a/b", "id": "abc"}
    assert fid.freight_id({"origin": ORIGIN, "commits": [commit]}) != fid.freight_id(
        {"origin": ORIGIN, "commits": [{**commit, "tag": "v2"}]}
    )
