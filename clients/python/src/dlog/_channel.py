"""Channel settings shared by the sync and the asyncio client: TLS, bearer token, options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import grpc

PemSource = Union[bytes, str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Tls:
    """TLS settings. Each PEM is its contents (bytes, or a str holding ``-----BEGIN``) or a file path.

    ``Tls()`` trusts the system roots; ``ca`` a private CA; ``cert`` + ``key`` add a client
    certificate (mutual TLS); ``server_name`` is the name to verify when it differs from the
    address host."""

    ca: Optional[PemSource] = None
    cert: Optional[PemSource] = None
    key: Optional[PemSource] = None
    server_name: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("Tls: cert and key go together (mutual TLS needs both)")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_pem(self.ca), private_key=_pem(self.key), certificate_chain=_pem(self.cert)
        )


def _pem(source: Optional[PemSource]) -> Optional[bytes]:
    if source is None:
        return None
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and "-----BEGIN" in source:
        return source.encode("ascii")
    with open(source, "rb") as file:
        return file.read()


def channel_options(tls: Optional[Tls], keepalive: float, extra: Sequence[tuple[str, object]]) -> list[tuple[str, object]]:
    options: list[tuple[str, object]] = [
        # Record batches may carry records up to the server's record limit (configurable beyond 1 MiB).
        ("grpc.max_receive_message_length", 256 * 1024 * 1024),
        ("grpc.max_send_message_length", 256 * 1024 * 1024),
        ("grpc.keepalive_time_ms", int(keepalive * 1000)),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # The reader's own backoff decides when to retry; the channel should redial promptly.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]
    if tls is not None and tls.server_name:
        options += [("grpc.ssl_target_name_override", tls.server_name), ("grpc.default_authority", tls.server_name)]
    return options + list(extra)


def credentials_for(tls: Union[Tls, bool, None]) -> Optional[Tls]:
    if tls is True:
        return Tls()
    if tls is False or tls is None:
        return None
    if isinstance(tls, Tls):
        return tls
    raise TypeError(f"tls must be a bool or a dlog.Tls, got {type(tls).__name__}")


def call_metadata(token: Optional[str]) -> tuple[tuple[str, str], ...]:
    # Sent as plain metadata rather than call credentials: grpcio refuses those on a plaintext
    # channel, and a dlogd behind a TLS-terminating proxy on loopback is a real setup.
    return (("authorization", f"Bearer {token}"),) if token else ()
