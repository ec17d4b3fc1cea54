"""Content Credentials (C2PA): this installation's signing chain, signing a copy of an image
with a manifest that says it is AI-generated, and reading the manifest of any file.

What a signed copy claims (one `c2pa.created` action): the IPTC digital source type
"trainedAlgorithmicMedia", the software agent (this gallery and the endpoint that made the
image), the creation time, and the prompt only when the owner allows metadata in downloads.

Keys: unless an operator configures their own chain (GALLERY_C2PA_CERT_CHAIN and
GALLERY_C2PA_PRIVATE_KEY), the installation makes its own on first use in GALLERY_C2PA_DIR:
a CA certificate and an end-entity signing certificate issued by it (C2PA refuses a
self-signed signer), ECDSA P-256 (ES256), with digitalSignature and the emailProtection EKU
that C2PA validators require. The CA's private key is not kept: its only job is to anchor
this one signer. Nobody else trusts that CA, so other validators call the signer "untrusted"
(docs/deploy.md says what that means and how to get a trusted chain).

Everything here works in memory; where the signed copy is stored is downloads.py's job.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import secrets
import shutil
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from gallery.models import Generation
from gallery.services import access, images, similarity

GALLERY_NAME = "SDXL Gallery"
GALLERY_VERSION = "0.1.0"
DIGITAL_SOURCE_TYPE = images.DIGITAL_SOURCE_TYPE
# Source types that mean "made by a generative model", fully or in part.
AI_SOURCE_TYPES = frozenset(
    f"http://cv.iptc.org/newscodes/digitalsourcetype/{name}"
    for name in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
)

# The files of a self-made chain, in GALLERY_C2PA_DIR.
CHAIN_FILE = "signer-chain.pem"  # the signer's certificate, then the CA's
KEY_FILE = "signer-key.pem"
CA_FILE = "ca.pem"

# The signed copy carries no thumbnail of its own (it would double a JPEG's size and cost
# ~30x the signing time); reading never fetches anything over the network (an uploaded
# file could point a remote manifest or OCSP responder anywhere).
_BUILDER_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


class SigningError(Exception):
    """The copy could not be signed (unsupported or unreadable container, bad key)."""


@dataclass(frozen=True)
class Credentials:
    chain: bytes  # PEM: the signing certificate first, then its intermediates
    key: bytes  # PEM private key
    algorithm: str  # "es256" or "ps256"
    anchors: bytes  # PEM roots that reading trusts (ours, and any the operator adds)
    fingerprint: str  # SHA-256 of the signing certificate (hex): which signer made a copy
    self_made: bool


_lock = threading.Lock()
_cache: dict[tuple, Credentials] = {}


def credentials() -> Credentials:
    """The signing chain this installation uses: the operator's, or its own (made on first
    use). Read once per process and configuration."""
    where = (
        str(settings.GALLERY_C2PA_DIR),
        settings.GALLERY_C2PA_CERT_CHAIN,
        settings.GALLERY_C2PA_PRIVATE_KEY,
        settings.GALLERY_C2PA_TRUST_ANCHORS,
        settings.GALLERY_C2PA_ALGORITHM,
    )
    with _lock:
        if where not in _cache:
            _cache[where] = _load()
        return _cache[where]


def _load() -> Credentials:
    extra = b""
    if settings.GALLERY_C2PA_TRUST_ANCHORS:
        extra = Path(settings.GALLERY_C2PA_TRUST_ANCHORS).read_bytes()
    if settings.GALLERY_C2PA_CERT_CHAIN:
        chain = Path(settings.GALLERY_C2PA_CERT_CHAIN).read_bytes()
        key = Path(settings.GALLERY_C2PA_PRIVATE_KEY).read_bytes()
        return _credentials(chain, key, settings.GALLERY_C2PA_ALGORITHM, extra, self_made=False)
    folder = Path(settings.GALLERY_C2PA_DIR)
    if not (folder / KEY_FILE).exists():
        make_chain(folder)
    chain = (folder / CHAIN_FILE).read_bytes()
    key = (folder / KEY_FILE).read_bytes()
    anchors = (folder / CA_FILE).read_bytes() + extra
    return _credentials(chain, key, "es256", anchors, self_made=True)


def _credentials(
    chain: bytes, key: bytes, algorithm: str, anchors: bytes, *, self_made: bool
) -> Credentials:
    signer = x509.load_pem_x509_certificates(chain)[0]
    fingerprint = signer.fingerprint(hashes.SHA256()).hex()
    return Credentials(chain, key, algorithm, anchors, fingerprint, self_made)


def make_chain(folder: Path) -> None:
    """Make a CA and a signing certificate issued by it in `folder`. Written to a sibling
    folder and renamed into place, so that processes starting together (web servers, the
    worker) all end up with the one chain that won."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    try:
        chain, key, ca = _new_chain()
        (staging / CHAIN_FILE).write_bytes(chain)
        (staging / CA_FILE).write_bytes(ca)
        fd = os.open(staging / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / KEY_FILE).exists():
                raise  # not a lost race: the folder is there but holds no chain
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, GALLERY_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


def _new_chain() -> tuple[bytes, bytes, bytes]:
    """(signer chain PEM, signer key PEM, CA certificate PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{GALLERY_NAME} installation CA"))
        .issuer_name(_name(f"{GALLERY_NAME} installation CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{GALLERY_NAME} installation signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=5 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca_pem = ca.public_bytes(pem)
    return signer.public_bytes(pem) + ca_pem, key_pem, ca_pem


# --- Signing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What a signed copy says about the image."""

    title: str  # the download's file name
    endpoint_label: str
    created_at: datetime.datetime
    prompt: str | None = None  # None: the owner keeps the prompt out of downloads
    negative_prompt: str = ""


def software_agent(endpoint_label: str) -> str:
    return f"{GALLERY_NAME} ({endpoint_label or 'unknown endpoint'})"


def manifest(claim: Claim) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": DIGITAL_SOURCE_TYPE,
        "softwareAgent": {"name": software_agent(claim.endpoint_label)},
        "when": claim.created_at.isoformat(timespec="seconds"),
    }
    if claim.prompt is not None:
        action["parameters"] = {"prompt": claim.prompt, "negative_prompt": claim.negative_prompt}
    return {
        "claim_generator_info": [{"name": GALLERY_NAME, "version": GALLERY_VERSION}],
        "title": claim.title,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }


def sign(data: bytes, fmt: str, claim: Claim) -> bytes:
    """`data` (an image in `fmt`, e.g. "JPEG") with a C2PA manifest signed by this
    installation embedded. SigningError when the container cannot take one."""
    creds = credentials()
    info = c2pa.C2paSignerInfo(
        alg=creds.algorithm.encode(), sign_cert=creds.chain, private_key=creds.key, ta_url=None
    )
    out = io.BytesIO()
    try:
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Context.from_dict(_BUILDER_SETTINGS) as context,
            c2pa.Builder(manifest(claim), context=context) as builder,
        ):
            builder.sign(signer, images.content_type(fmt), io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise SigningError(str(exc)) from exc
    return out.getvalue()


# --- Reading ----------------------------------------------------------------------------------

NONE = "none"  # no manifest
TRUSTED = "trusted"  # intact, and the signer chains to a root this gallery trusts
VALID = "valid"  # intact, signed by someone this gallery does not know
TAMPERED = "tampered"  # the manifest is there but the file or the manifest was changed


@dataclass(frozen=True)
class Reading:
    state: str
    source_type: str = ""
    software_agent: str = ""
    when: str = ""
    signer: str = ""  # the signing certificate's issuer and common name
    claim_generator: str = ""
    problems: tuple[str, ...] = ()  # validators' failure codes, for a tampered file

    @property
    def has_manifest(self) -> bool:
        return self.state != NONE

    @property
    def is_intact(self) -> bool:
        return self.state in (TRUSTED, VALID)

    @property
    def ai_generated(self) -> bool:
        return self.source_type in AI_SOURCE_TYPES


def _reader_settings() -> dict[str, Any]:
    anchors = credentials().anchors.decode()
    return {
        # An operator's chain without GALLERY_C2PA_TRUST_ANCHORS: no roots (c2pa-rs refuses
        # an empty list), so every signature reads as "valid", none as "trusted".
        **({"trust": {"user_anchors": anchors}} if anchors.strip() else {}),
        "verify": {"verify_trust": True, **_OFFLINE},
    }


def read(data: bytes, fmt: str) -> Reading:
    """The C2PA manifest of `data` (a verified image container in `fmt`), validated against
    the roots this gallery trusts. Never raises for a bad or foreign manifest: says so."""
    try:
        with (
            c2pa.Context.from_dict(_reader_settings()) as context,
            c2pa.Reader(images.content_type(fmt), io.BytesIO(data), context=context) as reader,
        ):
            store = json.loads(reader.json())
            state = reader.get_validation_state() or ""
    except c2pa.C2paError.ManifestNotFound:
        return Reading(NONE)
    except c2pa.C2paError as exc:
        # A manifest box that cannot even be parsed: present, and not what was signed.
        return Reading(TAMPERED, problems=(str(exc)[:200],))
    return _reading(store, state)


def _reading(store: dict[str, Any], state: str) -> Reading:
    active = (store.get("manifests") or {}).get(store.get("active_manifest") or "") or {}
    created = _created_action(active)
    agent = created.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name", "")
    info = active.get("signature_info") or {}
    generator: Any = next(iter(active.get("claim_generator_info") or []), {})
    failures = ((store.get("validation_results") or {}).get("activeManifest") or {}).get(
        "failure"
    ) or []
    codes = tuple(str(f.get("code", "")) for f in failures if isinstance(f, dict))
    if state == "Trusted":
        verdict = TRUSTED
    elif state == "Valid":
        verdict = VALID
    else:
        verdict = TAMPERED
    return Reading(
        state=verdict,
        source_type=str(created.get("digitalSourceType", "")),
        software_agent=str(agent or ""),
        when=str(created.get("when", "")),
        signer=" · ".join(str(v) for v in (info.get("issuer"), info.get("common_name")) if v),
        claim_generator=str(generator.get("name", "")) if isinstance(generator, dict) else "",
        problems=codes if verdict == TAMPERED else (),
    )


def _created_action(active: dict[str, Any]) -> dict[str, Any]:
    for assertion in active.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if action.get("action") == "c2pa.created":
                    return action
    return {}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- The verify page --------------------------------------------------------------------------


class NotAnImage(ValueError):
    """The file is not an image the verify page checks."""


@dataclass(frozen=True)
class Verification:
    sha256: str
    format: str
    reading: Reading
    # An image of this gallery with exactly these bytes (its original or its signed copy),
    # only if the visitor may see it; None tells nothing about images they may not see.
    match: Generation | None = None
    matched_signed_copy: bool = False
    # Else the nearest image the visitor may see by perceptual hash (an edited, re-encoded
    # or resized copy), and how many of the hash's 64 bits differ.
    similar: Generation | None = None
    similar_distance: int | None = None


def image_format(data: bytes) -> str:
    """ "JPEG", "PNG" or "WEBP" from the file's header, or NotAnImage. Pixels are never
    decoded: the manifest and the hash are what the page checks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(images.EXTENSIONS)) as img:
                return img.format or ""
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise NotAnImage(_("Not a JPEG, PNG or WebP image.")) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise NotAnImage(_("The image file is damaged.")) from exc


def verify_file(data: bytes, viewer: access.AnyUser) -> Verification:
    """What an uploaded file's Content Credentials say, and which image of this gallery it
    is, if the visitor may see that image. Nothing is kept."""
    fmt = image_format(data)
    digest = sha256(data)
    match = (
        access.viewable(viewer)
        .filter(Q(sha256=digest) | Q(signed_sha256=digest))
        .order_by("id")
        .first()
    )
    similar, distance = None, None
    if match is None:
        similar, distance = _nearest(data, viewer)
    return Verification(
        sha256=digest,
        format=fmt,
        reading=read(data, fmt),
        match=match,
        matched_signed_copy=bool(match and match.signed_sha256 == digest),
        similar=similar,
        similar_distance=distance,
    )


# A copy this close (of 64 bits) is "the same picture" on the verify page.
VERIFY_SIMILAR_DISTANCE = 6


def _nearest(data: bytes, viewer: access.AnyUser) -> tuple[Generation | None, int | None]:
    try:
        decoded = images.verify(data, max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS)
    except images.InvalidImageError:
        return None, None
    found = similarity.nearest(
        viewer,
        similarity.dhash(decoded.pixels),
        limit=1,
        max_distance=VERIFY_SIMILAR_DISTANCE,
    )
    return (found[0].generation, found[0].distance) if found else (None, None)
