"""The one place where the SDK touches HTTP: a request, its errors translated.

Both clients send every request through :class:`Http`. It owns an ``httpx.AsyncClient``
only when it was not given one (then :meth:`aclose` closes it; an outside session is the
caller's to close). Transport errors become :class:`ConnectionFailed` / :class:`Timeout`
(``status`` None: the path failed, nobody answered); error answers become the error for
their problem detail.
"""

from __future__ import annotations

from typing import Any

import httpx

from lightbox.client.errors import ConnectionFailed, Timeout, error_from_problem

DEFAULT_TIMEOUT_S = 10.0


class Http:
    def __init__(
        self,
        base_url: str,
        *,
        session: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s or timeout_s)

    @property
    def session(self) -> httpx.AsyncClient:
        if self._session is None:
            self._session = httpx.AsyncClient(timeout=self.timeout)
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        command: bool = False,
    ) -> httpx.Response:
        """``method path``; the answer when it is a success, else the matching error."""
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.session.request(
                method, url, json=json, headers=headers, timeout=self.timeout
            )
        except httpx.ConnectTimeout as err:
            raise ConnectionFailed(f"{self.base_url}: no connection in time") from err
        except httpx.TimeoutException as err:
            raise Timeout(f"{self.base_url}: no answer in time ({type(err).__name__})") from err
        except httpx.TransportError as err:
            raise ConnectionFailed(
                f"cannot reach {self.base_url}: {err or type(err).__name__}"
            ) from err
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:300] or response.reason_phrase}
            if not isinstance(body, dict):
                body = {"detail": str(body)[:300]}
            raise error_from_problem(
                response.status_code,
                body,
                command=command,
                retry_after=response.headers.get("retry-after"),
            )
        return response
