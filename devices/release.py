"""Signed model releases: a bundle packed into a deterministic archive, its sha256 signed with Ed25519.

The operator keeps the private key (``splitrank fleet keygen``); devices hold the public key and
refuse any archive whose hash or signature does not verify, before a byte of it is unpacked.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protos.v1 import fleet_pb2


class ReleaseRejected(ValueError):
    """A release failed verification; the message is what the device acks."""


def generate_keypair(directory: Path) -> tuple[Path, Path]:
    """Write ``release.key`` (private, mode 0600) and ``release.pub`` into ``directory``; refuses to overwrite."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / "release.key", directory / "release.pub"
    if private_path.exists():
        raise FileExistsError(f"{private_path} exists; move it away to make a new key")
    key = Ed25519PrivateKey.generate()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The operator's signing key."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The key devices verify releases with."""
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"{path} is not an Ed25519 public key")
    return key


def pack_bundle(bundle: Path, archive: Path) -> bytes:
    """A gzip'd tar of the bundle directory (sorted, zeroed times and owners: the same bundle packs to the
    same bytes); returns the archive's sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in Path(bundle).rglob("*") if p.is_file()):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(bundle)))
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    archive.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).digest()


def make_release(bundle: Path, key: Ed25519PrivateKey, out_dir: Path, *, release_id: str, health_window_s: int = 5) -> fleet_pb2.ModelRelease:
    """Pack, hash and sign a bundle; the release points at the archive by file:// URL."""
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"bundle-{bundle.name}-{release_id}.tar.gz"
    digest = pack_bundle(bundle, archive)
    return fleet_pb2.ModelRelease(release_id=release_id, model_version=bundle.name, url=archive.resolve().as_uri(), sha256=digest,
                                  signature=key.sign(digest), health_window_s=health_window_s)


def signature_problem(data: bytes, sha256: bytes, signature: bytes, public_key: Ed25519PublicKey, what: str) -> str | None:
    """Why ``data`` (a release archive, a prior push, ...) is not what the fleet's key signed, or None when it is:
    unsigned, a sha256 that does not match (truncated or tampered), or a signature the key does not verify."""
    if not signature:
        return f"unsigned {what}"
    digest = hashlib.sha256(data).digest()
    if digest != sha256:
        return f"sha256 {digest.hex()[:12]}… does not match the {what}'s {sha256.hex()[:12]}…: truncated or tampered"
    try:
        public_key.verify(signature, digest)
    except InvalidSignature:
        return f"bad signature: the {what} was not signed by this fleet's key"
    return None


def verify_archive(data: bytes, release: fleet_pb2.ModelRelease, public_key: Ed25519PublicKey) -> None:
    """Raise ReleaseRejected unless ``data`` hashes to the release's sha256 and the signature over it verifies."""
    problem = signature_problem(data, release.sha256, release.signature, public_key, "release")
    if problem is not None:
        raise ReleaseRejected(problem)
