"""A small Hugging Face Hub-compatible HTTP server for offline tests (standard library, plus PyYAML when present).

It implements what ``huggingface_hub``'s client (and ``transformers``/``datasets`` through it) calls to push and pull
model and dataset repos, over the same HTTP endpoints and headers the real Hub uses (``{kind}`` is ``models`` or
``datasets``; a dataset's download and git URLs carry a ``/datasets`` prefix, as on the Hub):

- ``GET /api/whoami-v2``; ``POST /api/repos/create`` (409 when it exists, private or public);
  ``POST /api/validate-yaml`` (README metadata check before a commit);
- ``POST /api/{kind}/{id}/preupload/{rev}`` (regular or LFS per file, remote oid to skip unchanged files),
  ``POST [/datasets]/{id}.git/info/lfs/objects/batch`` (LFS batch: single PUT, or multipart above
  ``multipart_threshold``), the upload URLs themselves (pre-signed: no token, like S3), ``.../objects/verify``, and
  ``POST /api/{kind}/{id}/commit/{rev}`` (ndjson: ``file``, ``lfsFile``, ``deletedFile``, ``deletedFolder``);
- ``GET /api/{kind}/{id}[/revision/{rev}]`` (repo info: ``sha``, ``cardData`` from the README's YAML, ``siblings``,
  ``gated``), ``GET /api/{kind}/{id}/tree/{rev}[/{path}]`` (``recursive``, ``expand`` with ``lastCommit`` and
  ``securityFileStatus``, paginated by a ``Link: <...>; rel="next"`` header past ``tree_page_size`` entries),
  ``POST /api/{kind}/{id}/paths-info/{rev}``, ``GET /api/{kind}/{id}/refs``, ``GET /api/{kind}/{id}/commits/{rev}``,
  ``GET /api/datasets/{id}/parquet[/{config}[/{split}]]`` (parquet file URLs per config and split, from the README's
  ``configs:``), and ``HEAD``/``GET [/datasets]/{id}/resolve/{rev}/{path}`` (ETag, X-Repo-Commit,
  X-Linked-Etag/Size for LFS files, Range requests).

A revision is ``main``, a commit oid, or any name in ``repo["refs"]`` (a slash in it arrives URL-encoded, as
``refs%2Fconvert%2Fparquet``); an unknown one is a 404 ``RevisionNotFound``, an unknown repo a ``RepoNotFound``.

Auth works like the Hub's: ``Authorization: Bearer TOKEN``; an unknown token is a 401 on any route; writes need a
token with the ``write`` role in the repo's namespace (401 without a token, 403 otherwise); a private repo is
"not found" (401, ``X-Error-Code: RepoNotFound``) to anyone but its owner. A gated repo (``gated="auto"`` or
``"manual"``) shows its info and file list to anyone, but its files only to its owner and the users given access with
``grant(repo_id, user)``: 401 ``GatedRepo`` without a token, 403 ``GatedRepo`` with another one. Repos and blobs live
under ``root``, so a server restarted on the same folder (``HubServer(root).start(port)``) serves what was pushed
before. ``add_folder(repo_id, folder, repo_type=...)`` seeds a repo from a local folder (one commit, no HTTP).

Fault injection for tests: ``server.cut["commit"] = 1`` drops the connection in the middle of the next commit
request; ``server.cut["lfs"] = 1`` does the same to the next LFS upload (the client retries those).

    python tests/hub_server.py --port 8765 --token hf_me=alice   # serve until Ctrl-C
    python tests/standins.py --port 8765                          # the same, seeded with stand-ins of Hub repos
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

# What the Hub's default .gitattributes sends to LFS; binary files and files over 10 MB go there too.
LFS_SUFFIXES = (
    *(".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".pkl", ".npy", ".npz"),
    *(".parquet", ".arrow", ".gz", ".zst", ".tar", ".zip"),
)
LFS_SIZE = 10 * 1024 * 1024
# Routes match the raw (still URL-encoded) path, so a revision such as refs%2Fconvert%2Fparquet stays one segment.
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
KIND = r"(?P<kind>models|datasets)"
REV = r"(?P<rev>[^/]+)"
REPO_TYPES = {"models": "model", "datasets": "dataset"}


def repo_key(repo_id: str, repo_type: str = "model") -> str:
    """Where a repo lives in ``HubServer.repos``: models by id, datasets as ``datasets/{id}`` (separate namespaces)."""
    if repo_type not in ("model", "dataset"):
        raise ValueError(f"repo_type must be 'model' or 'dataset', not {repo_type!r}")
    return repo_id if repo_type == "model" else f"datasets/{repo_id}"


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubServer:
    """The server: ``start()`` returns the endpoint URL, ``stop()`` takes it down (connections included)."""

    def __init__(self, root: str | Path, tokens: dict[str, tuple[str, str]] | None = None, multipart_threshold=None):
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "uploads").mkdir(exist_ok=True)
        self.tokens = dict(tokens or {})  # token -> (user name, "read" | "write")
        self.multipart_threshold = multipart_threshold or 32 * 1024 * 1024
        self.tree_page_size = 1000  # entries per page of /tree, as on the Hub; lower it to test pagination
        self.part_size = 16 * 1024 * 1024
        self.cut: dict[str, int] = {}
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.unrouted: list[str] = []  # requests this server does not implement (a client path it lacks)
        self.lock = threading.RLock()
        self.repos: dict[str, dict] = self._load()
        self.tickets: dict[str, dict] = {}  # pre-signed upload URLs
        self.httpd: ThreadingHTTPServer | None = None
        self.endpoint = ""

    # --- lifecycle
    def start(self, port: int = 0) -> str:
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.hub = self
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.endpoint

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.close_all()
            self.httpd.server_close()
            self.httpd = None

    # --- storage
    def _load(self) -> dict:
        path = self.root / "repos.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def _save(self) -> None:
        tmp = self.root / "repos.json.tmp"
        tmp.write_text(json.dumps(self.repos, indent=1))
        os.replace(tmp, self.root / "repos.json")

    def blob_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256

    def store_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.blob_path(sha).exists():
            tmp = self.root / "uploads" / uuid.uuid4().hex
            tmp.write_bytes(data)
            os.replace(tmp, self.blob_path(sha))
        return sha

    def repo_files(self, repo_id: str, repo_type: str = "model") -> dict[str, Path]:
        """Path in repo -> stored blob, at the head of ``main``."""
        files = self.repos[repo_key(repo_id, repo_type)]["commits"][-1]["files"]
        return {path: self.blob_path(meta["sha256"]) for path, meta in files.items()}

    def add_folder(
        self,
        repo_id: str,
        folder: str | Path,
        repo_type: str = "model",
        private: bool = False,
        gated: bool | str = False,
        message: str = "Upload folder",
    ) -> str:
        """Seeds ``repo_id`` with every file under ``folder`` as one commit on ``main`` (no HTTP); returns its oid.

        The repo is created (owner: the namespace) if needed; ``gated`` is False, True (``"auto"``) or ``"manual"``.
        Files are stored as LFS the way the Hub's ``.gitattributes`` would (weights, parquet, binary, > 10 MB).
        """
        folder = Path(folder)
        files = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".git" not in path.relative_to(folder).parts:
                data = path.read_bytes()
                lfs = path.name.endswith(LFS_SUFFIXES) or len(data) > LFS_SIZE or b"\0" in data[:1024]
                files[path.relative_to(folder).as_posix()] = {"sha256": self.store_bytes(data), "lfs": lfs}
        with self.lock:
            key = repo_key(repo_id, repo_type)
            repo = self.repos.get(key) or self._new_repo(repo_id, repo_type, private)
            repo["private"], repo["gated"] = private, ("auto" if gated is True else gated or False)
            parent = repo["commits"][-1]
            files = {".gitattributes": repo["commits"][0]["files"][".gitattributes"], **files}  # the folder, whole
            oid = hashlib.sha1(json.dumps([parent["oid"], files, message], sort_keys=True).encode()).hexdigest()
            repo["commits"].append({"oid": oid, "title": message, "date": _now(), "files": files})
            self.repos[key] = repo
            self._save()
        return oid

    def grant(self, repo_id: str, user: str, repo_type: str = "model") -> None:
        """Gives ``user`` access to the files of a gated repo (as accepting its conditions on the Hub does)."""
        with self.lock:
            repo = self.repos[repo_key(repo_id, repo_type)]
            repo.setdefault("granted", [])
            if user not in repo["granted"]:
                repo["granted"].append(user)
            self._save()

    def _new_repo(self, repo_id: str, repo_type: str, private: bool) -> dict:
        """A repo as the Hub creates it: an initial commit holding only ``.gitattributes``."""
        first = {"oid": hashlib.sha1(repo_key(repo_id, repo_type).encode()).hexdigest(), "title": "initial commit"}
        patterns = [f"*{suffix} filter=lfs diff=lfs merge=lfs -text" for suffix in LFS_SUFFIXES]
        attributes = self.store_bytes(("\n".join(patterns) + "\n").encode())
        first.update(date=_now(), files={".gitattributes": {"sha256": attributes, "lfs": False}})
        return {
            "type": repo_type,
            "owner": repo_id.split("/")[0],
            "private": private,
            "gated": False,
            "created": _now(),
            "commits": [first],
        }

    def take_cut(self, kind: str) -> bool:
        with self.lock:
            if self.cut.get(kind, 0) > 0:
                self.cut[kind] -= 1
                return True
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubServer

    def __init__(self, *args, **kwargs):
        self.sockets: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        self.sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self):
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):  # quiet; requests are recorded in hub.log
        pass

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    # --- plumbing
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method: str):
        url = urlsplit(self.path)
        path, self.query = unquote(url.path), parse_qs(url.query)
        self._status = 0
        self._body_read = False
        try:
            for route_method, pattern, handler in ROUTES:
                match = re.fullmatch(pattern, url.path)
                if match and (route_method == method or (route_method == "GET" and method == "HEAD")):
                    handler(self, **{k: unquote(v) for k, v in match.groupdict().items() if v is not None})
                    break
            else:
                self.hub.unrouted.append(f"{method} {path}")
                raise HubError(404, f"Route not found: {method} {path}")
        except HubError as err:
            self._drain()
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json({"error": err.message}, err.status, headers)
        except _Cut:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug in this server: answer 500 so the test shows it
            self.close_connection = True
            self._json({"error": f"test server error: {type(err).__name__}: {err}"}, 500)
        self.hub.log.append((method, path, self._status))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, length: int | None = None):
        self._status = status
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _chunks(self):
        """The request body, chunked transfer encoding or Content-Length."""
        self._body_read = True
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            yield from self._read(int(self.headers.get("Content-Length") or 0))
            return
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            yield from self._read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass

    def _read(self, remaining: int):
        while remaining:
            data = self.rfile.read(min(remaining, 1 << 20))
            if not data:
                raise _Cut()  # the client went away mid-body
            remaining -= len(data)
            yield data

    def _body(self) -> bytes:
        return b"".join(self._chunks())

    def _drain(self):
        if not self._body_read:
            try:
                for _ in self._chunks():
                    pass
            except (_Cut, OSError, ValueError):
                self.close_connection = True

    def _json_body(self):
        try:
            return json.loads(self._body() or b"{}")
        except ValueError:
            raise HubError(400, "Invalid JSON body") from None

    def _cut_midway(self, kind: str):
        """Reads part of the body, then drops the connection without a response (a network cut)."""
        if self.hub.take_cut(kind):
            chunks = self._chunks()
            next(chunks, None)
            raise _Cut()

    # --- auth
    def _user(self) -> tuple[str | None, str | None]:
        auth = self.headers.get("Authorization") or ""
        if not auth:
            return None, None
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.hub.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.hub.tokens[token]

    def _can_write(self, namespace: str) -> str:
        user, role = self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to write to the Hub (no token was sent)")
        if role != "write":
            raise HubError(403, "This token has read-only access; a token with write access is needed")
        if namespace != user:
            raise HubError(403, f"You don't have the rights to write to the namespace '{namespace}'")
        return user

    def _repo(self, repo_id: str, write: bool = False, kind: str = "models") -> dict:
        user, _ = self._user()
        repo = self.hub.repos.get(repo_key(repo_id, REPO_TYPES[kind]))
        if repo is None or (repo["private"] and repo["owner"] != user):
            status = 401 if user is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        if write:
            self._can_write(repo["owner"])
        return repo

    def _check_gate(self, repo_id: str, repo: dict, kind: str) -> None:
        """The files of a gated repo are for its owner and the users it was granted to (the Hub's 401/403)."""
        if not repo.get("gated"):
            return
        user, _ = self._user()
        what = f"{REPO_TYPES[kind]} {repo_id}"
        if user is None:
            message = f"Access to {what} is restricted. You must have access to it and be authenticated to access it."
            raise HubError(401, message + " Please log in.", "GatedRepo")
        if user != repo["owner"] and user not in repo.get("granted", []):
            url = f"{self.hub.endpoint}/{'datasets/' if kind == 'datasets' else ''}{repo_id}"
            message = f"Access to {what} is restricted and you are not in the authorized list. Visit {url} to ask."
            raise HubError(403, message, "GatedRepo")

    def _commit(self, repo: dict, rev: str) -> dict:
        rev = repo.get("refs", {}).get(rev, rev)
        if rev in ("main", "refs/heads/main"):
            return repo["commits"][-1]
        for commit in repo["commits"]:
            if commit["oid"] == rev:
                return commit
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    # --- account and repos
    def whoami(self):
        user, role = self._user()
        if user is None:
            raise HubError(401, "Invalid username or password.")
        self._json(
            {
                "type": "user",
                "name": user,
                "fullname": user.title(),
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": role}},
            }
        )

    def agent_harnesses(self):
        self._json({"standardEnvVars": [], "harnesses": {}})

    def create_repo(self):
        body = self._json_body()
        namespace = body.get("organization") or self._user()[0] or ""
        self._can_write(namespace)
        repo_type = body.get("type") or "model"
        if repo_type not in ("model", "dataset"):
            raise HubError(400, "This test server only hosts model and dataset repos")
        repo_id = f"{namespace}/{body['name']}"
        url = f"{self.hub.endpoint}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
        with self.hub.lock:
            if repo_key(repo_id, repo_type) in self.hub.repos:
                self._drain()
                message = f"You already created this {repo_type} repo"
                return self._json({"error": message, "url": url}, 409, {"X-Error-Message": message})
            private = body.get("visibility") == "private" or bool(body.get("private"))
            self.hub.repos[repo_key(repo_id, repo_type)] = self.hub._new_repo(repo_id, repo_type, private)
            self.hub._save()
        self._json({"url": url, "name": repo_id, "id": uuid.uuid4().hex})

    def validate_yaml(self):
        content = self._json_body().get("content", "")
        try:
            import yaml

            match = re.match(r"^---\s*\n(.*?)\n---", content, flags=re.S)
            if match and not isinstance(yaml.safe_load(match.group(1)) or {}, dict):
                raise HubError(400, "Metadata is not a mapping")
        except ImportError:
            pass
        except Exception as err:  # a YAML syntax error
            if isinstance(err, HubError):
                raise
            raise HubError(400, f"Invalid YAML: {err}") from None
        self._json({"errors": [], "warnings": []})

    # --- upload
    def preupload(self, repo, rev, kind="models"):
        repo = self._repo(repo, write=True, kind=kind)
        files = self._commit(repo, rev)["files"]
        out = []
        for item in self._json_body().get("files", []):
            sample = base64.b64decode(item.get("sample", ""))
            lfs = item["path"].endswith(LFS_SUFFIXES) or item["size"] > LFS_SIZE or b"\0" in sample
            remote = files.get(item["path"])
            oid = None
            if remote is not None:
                oid = remote["sha256"] if lfs else git_blob_oid(self.hub.blob_path(remote["sha256"]).read_bytes())
            out.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._json({"files": out, "commitOid": self._commit(repo, rev)["oid"]})

    def lfs_batch(self, repo, prefix=None):
        repo_id = repo
        self._repo(repo_id, write=True, kind=prefix or "models")
        body = self._json_body()
        if body.get("operation") != "upload":
            raise HubError(400, "Only uploads go through this test server's LFS batch endpoint")
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry = {"oid": oid, "size": size}
            if not self.hub.blob_path(oid).exists():
                ticket = uuid.uuid4().hex
                self.hub.tickets[ticket] = {"oid": oid, "size": size, "parts": {}}
                href = f"{self.hub.endpoint}/lfs-upload/{ticket}"
                upload = {"href": href, "header": {}}
                if size > self.hub.multipart_threshold:
                    n = -(-size // self.hub.part_size)
                    upload["header"] = {"chunk_size": str(self.hub.part_size)}
                    upload["header"].update({f"{i:05d}": f"{href}/{i}" for i in range(1, n + 1)})
                git = f"{self.hub.endpoint}/{prefix + '/' if prefix else ''}{repo_id}.git"
                verify = {"href": f"{git}/info/lfs/objects/verify", "header": {}}
                entry["actions"] = {"upload": upload, "verify": verify}
            objects.append(entry)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_put(self, ticket, part=None):
        info = self.hub.tickets.get(ticket)
        if info is None:
            raise HubError(403, "Upload URL is invalid or expired")
        self._cut_midway("lfs")
        tmp = self.hub.root / "uploads" / f"{ticket}.{part or 'all'}"
        digest = hashlib.sha256()
        with open(tmp, "wb") as f:
            for data in self._chunks():
                digest.update(data)
                f.write(data)
        if part is None:
            self._finish_upload(info, [tmp])
            self._send(200)
        else:
            etag = digest.hexdigest()[:32]
            info["parts"][int(part)] = (tmp, etag)
            self._send(200, headers={"ETag": f'"{etag}"'})

    def lfs_complete(self, ticket):
        info = self.hub.tickets.get(ticket)
        if info is None:
            raise HubError(403, "Upload URL is invalid or expired")
        body = self._json_body()
        parts = sorted(body.get("parts", []), key=lambda p: p["partNumber"])
        paths = []
        for p in parts:
            tmp, etag = info["parts"].get(p["partNumber"], (None, None))
            if tmp is None or p["etag"].strip('"') != etag:
                raise HubError(400, f"Part {p['partNumber']} is missing or its etag does not match")
            paths.append(tmp)
        self._finish_upload(info, paths)
        self._json({"ok": True})

    def _finish_upload(self, info: dict, parts: list[Path]):
        digest, size = hashlib.sha256(), 0
        target = self.hub.root / "uploads" / f"{info['oid']}.{uuid.uuid4().hex}"
        with open(target, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while data := f.read(1 << 20):
                        digest.update(data)
                        size += len(data)
                        out.write(data)
                part.unlink()
        if digest.hexdigest() != info["oid"] or size != info["size"]:
            target.unlink()
            raise HubError(400, "Uploaded content does not match the announced oid/size")
        os.replace(target, self.hub.blob_path(info["oid"]))

    def lfs_verify(self, repo, prefix=None):
        self._repo(repo, write=True, kind=prefix or "models")
        body = self._json_body()
        path = self.hub.blob_path(body.get("oid", "-"))
        if not path.exists() or path.stat().st_size != body.get("size"):
            raise HubError(404, "LFS object not found")
        self._json({"ok": True})

    def commit(self, repo, rev, kind="models"):
        repo_id = repo
        repo = self._repo(repo_id, write=True, kind=kind)
        self._cut_midway("commit")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        with self.hub.lock:
            parent = self._commit(repo, rev)
            files = dict(parent["files"])
            header = {}
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "header":
                    header = value
                    if value.get("parentCommit") and value["parentCommit"] != parent["oid"]:
                        raise HubError(412, "A commit has happened since the parent commit")
                elif key == "file":
                    data = (
                        base64.b64decode(value["content"])
                        if value.get("encoding") == "base64"
                        else value["content"].encode()
                    )
                    files[value["path"]] = {"sha256": self.hub.store_bytes(data), "lfs": False}
                elif key == "lfsFile":
                    if not self.hub.blob_path(value["oid"]).exists():
                        raise HubError(422, f"LFS object {value['oid']} for {value['path']} was not uploaded")
                    files[value["path"]] = {"sha256": value["oid"], "lfs": True}
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {k: v for k, v in files.items() if not k.startswith(prefix)}
                else:
                    raise HubError(400, f"Unknown commit operation '{key}'")
            oid = hashlib.sha1(json.dumps([parent["oid"], files, time.time()], sort_keys=True).encode()).hexdigest()
            title = header.get("summary") or "commit"
            repo["commits"].append({"oid": oid, "title": title, "date": _now(), "files": files})
            self.hub._save()
        url = f"{self.hub.endpoint}/{'datasets/' if kind == 'datasets' else ''}{repo_id}/commit/{oid}"
        self._json({"success": True, "commitOid": oid, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None})

    # --- read
    def _entry(self, path: str, meta: dict, last_commit: dict | None = None) -> dict:
        blob = self.hub.blob_path(meta["sha256"])
        size = blob.stat().st_size
        entry = {"type": "file", "path": path, "size": size}
        if meta["lfs"]:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{meta['sha256']}\nsize {size}\n"
            entry["oid"] = git_blob_oid(pointer.encode())
            entry["lfs"] = {"oid": meta["sha256"], "size": size, "pointerSize": len(pointer)}
        else:
            entry["oid"] = git_blob_oid(blob.read_bytes())
        if last_commit is not None:  # expand=true
            entry["lastCommit"] = {k: last_commit[k] for k in ("id", "title", "date")}
            entry["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False}, "pickleImportScan": None}
        return entry

    @staticmethod
    def _folder(path: str, last_commit: dict | None = None) -> dict:
        entry = {"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0}
        if last_commit is not None:
            entry["lastCommit"] = {k: last_commit[k] for k in ("id", "title", "date")}
        return entry

    @staticmethod
    def _last_commits(repo: dict, commit: dict) -> dict[str, dict]:
        """Path -> the last commit up to ``commit`` that added or changed it (what ``expand=true`` reports)."""
        last, previous = {}, {}
        for c in repo["commits"]:
            for path, meta in c["files"].items():
                if previous.get(path) != meta["sha256"]:
                    last[path] = {"id": c["oid"], "title": c["title"], "date": c["date"]}
            previous = {path: meta["sha256"] for path, meta in c["files"].items()}
            if c is commit:
                break
        return last

    def _expand(self) -> bool:
        return any(v.lower() in ("true", "1") for v in self.query.get("expand", []))

    def repo_info(self, repo, rev="main", kind="models"):
        repo_id = repo
        repo = self._repo(repo_id, kind=kind)
        commit = self._commit(repo, rev)
        blobs = self.query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path, meta in sorted(commit["files"].items()):
            sibling = {"rfilename": path}
            if blobs:
                entry = self._entry(path, meta)
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    lfs = entry["lfs"]
                    sibling["lfs"] = {"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
            siblings.append(sibling)
        card = self._card_data(commit)
        info = {
            "_id": hashlib.md5(repo_key(repo_id, REPO_TYPES[kind]).encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo["owner"],
            "sha": commit["oid"],
            "lastModified": commit["date"],
            "createdAt": repo["created"],
            "private": repo["private"],
            "gated": repo.get("gated", False),
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(card.get("tags") or []),
            "cardData": card or None,
            "siblings": siblings,
        }
        if kind == "models":
            info.update(modelId=repo_id, library_name=card.get("library_name"), pipeline_tag=card.get("pipeline_tag"))
        else:
            info.update(description=card.get("pretty_name") or "", citation=None, paperswithcode_id=None)
        self._json(info)

    def _card_data(self, commit: dict) -> dict:
        meta = commit["files"].get("README.md")
        if meta is None:
            return {}
        text = self.hub.blob_path(meta["sha256"]).read_text(encoding="utf-8", errors="replace")
        match = re.match(r"^---\s*\n(.*?)\n---", text, flags=re.S)
        try:
            import yaml

            data = yaml.safe_load(match.group(1)) if match else {}
        except Exception:
            return {}
        return data if isinstance(data, dict) else {}

    def tree(self, repo, rev, path="", kind="models"):
        repo = self._repo(repo, kind=kind)
        commit = self._commit(repo, rev)
        files = commit["files"]
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        last = self._last_commits(repo, commit) if self._expand() else {}
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in files):
            raise HubError(404, f"{path} does not exist on this revision", "EntryNotFound")
        entries, folders = [], {}
        for name, meta in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            parts = rest.split("/")[:-1]
            for i in range(1 if not recursive else len(parts)):
                if parts:
                    folder = prefix + "/".join(parts[: i + 1])
                    newest = folders.get(folder)
                    if last and (newest is None or last[name]["date"] > newest["date"]):
                        newest = last[name]
                    folders[folder] = newest
            if parts and not recursive:
                continue
            entries.append(self._entry(name, meta, last.get(name)))
        items = [self._folder(f, folders[f]) for f in sorted(folders)] + entries
        # Paginated like the Hub: a page of ``limit`` entries and a Link header to the next one.
        limit = int(self.query.get("limit", [self.hub.tree_page_size])[0])
        start = int(base64.urlsafe_b64decode(self.query["cursor"][0]).decode()) if "cursor" in self.query else 0
        headers = {}
        if start + limit < len(items):
            query = {k: v[0] for k, v in self.query.items() if k != "cursor"}
            query["cursor"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            next_url = f"{self.hub.endpoint}{urlsplit(self.path).path}?{urlencode(query)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(items[start : start + limit], headers=headers)

    def paths_info(self, repo, rev, kind="models"):
        repo = self._repo(repo, kind=kind)
        commit = self._commit(repo, rev)
        files = commit["files"]
        body = self._body()
        if "json" in self.headers.get("Content-Type", ""):
            form = json.loads(body or b"{}")
            paths, expand = form.get("paths", []), str(form.get("expand", "false")).lower() == "true"
        else:
            form = parse_qs(body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["False"])[0].lower() == "true"
        last = self._last_commits(repo, commit) if expand else {}
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(self._entry(path, files[path], last.get(path) if expand else None))
            elif any(p.startswith(path + "/") for p in files):
                inside = [last[p] for p in files if p.startswith(path + "/") and p in last]
                out.append(self._folder(path, max(inside, key=lambda c: c["date"]) if inside else None))
        self._json(out)

    def refs(self, repo, kind="models"):
        repo = self._repo(repo, kind=kind)
        branches = [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo["commits"][-1]["oid"]}]
        converts, tags = [], []
        for name, oid in sorted(repo.get("refs", {}).items()):
            short = name.split("/")[-1]
            if name.startswith("refs/convert/"):
                converts.append({"name": short, "ref": name, "targetCommit": oid})
            elif name.startswith("refs/tags/"):
                tags.append({"name": short, "ref": name, "targetCommit": oid})
            else:
                branches.append({"name": short, "ref": f"refs/heads/{short}", "targetCommit": oid})
        self._json({"branches": branches, "converts": converts, "tags": tags})

    def commits(self, repo, rev, kind="models"):
        repo = self._repo(repo, kind=kind)
        head = self._commit(repo, rev)
        history = repo["commits"][: repo["commits"].index(head) + 1]
        author = [{"user": repo["owner"]}]
        self._json(
            [
                {"id": c["oid"], "title": c["title"], "message": "", "authors": author, "date": c["date"]}
                for c in reversed(history)
            ]
        )

    def parquet(self, repo, config=None, split=None):
        """The Hub's parquet listing, here straight from the README's ``configs:`` (data files already parquet)."""
        repo_id = repo
        repo = self._repo(repo_id, kind="datasets")
        commit = self._commit(repo, "main")
        listing = {}
        for entry in self._card_data(commit).get("configs") or []:
            data_files = entry.get("data_files") or []
            if isinstance(data_files, str):
                data_files = [{"split": "train", "path": data_files}]
            splits = {}
            for item in data_files:
                patterns = item["path"] if isinstance(item["path"], list) else [item["path"]]
                matched = [p for p in sorted(commit["files"]) if any(fnmatch.fnmatch(p, g) for g in patterns)]
                base = f"{self.hub.endpoint}/datasets/{repo_id}/resolve/{commit['oid']}/"
                splits[item["split"]] = [base + quote(p) for p in matched if p.endswith(".parquet")]
            listing[entry["config_name"]] = splits
        if config is not None and config not in listing:
            raise HubError(404, f"Config '{config}' not found", "EntryNotFound")
        if split is not None and split not in listing[config]:
            raise HubError(404, f"Split '{split}' not found in config '{config}'", "EntryNotFound")
        self._json(listing if config is None else listing[config] if split is None else listing[config][split])

    def resolve(self, repo, rev, path, prefix=None):
        repo_id, kind = repo, prefix or "models"
        repo = self._repo(repo_id, kind=kind)
        self._check_gate(repo_id, repo, kind)
        commit = self._commit(repo, rev)
        meta = commit["files"].get(path)
        headers = {"X-Repo-Commit": commit["oid"], "Accept-Ranges": "bytes"}
        if meta is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit["oid"]})
        entry = self._entry(path, meta)
        size = entry["size"]
        if meta["lfs"]:
            headers.update(
                {"ETag": f'"{entry["oid"]}"', "X-Linked-Etag": f'"{meta["sha256"]}"', "X-Linked-Size": size}
            )
        else:
            headers["ETag"] = f'"{entry["oid"]}"'
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Disposition"] = f'inline; filename="{quote(path.rsplit("/", 1)[-1])}";'
        start, end, status = 0, size, 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start, end = int(match.group(1)), min(int(match.group(2) or size - 1) + 1, size)
            if start >= size:
                raise HubError(416, "Requested range not satisfiable")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self._status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(self.hub.blob_path(meta["sha256"]), "rb") as f:
            f.seek(start)
            remaining = end - start
            while remaining:
                data = f.read(min(remaining, 1 << 20))
                self.wfile.write(data)
                remaining -= len(data)


class _Cut(Exception):
    pass


ROUTES = [
    ("GET", r"/api/whoami-v2", _Handler.whoami),
    ("GET", r"/api/agent-harnesses", _Handler.agent_harnesses),
    ("POST", r"/api/repos/create", _Handler.create_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("POST", rf"/api/{KIND}/{REPO}/preupload/{REV}", _Handler.preupload),
    ("POST", rf"/api/{KIND}/{REPO}/commit/{REV}", _Handler.commit),
    ("POST", rf"/api/{KIND}/{REPO}/paths-info/{REV}", _Handler.paths_info),
    ("GET", rf"/api/{KIND}/{REPO}/tree/{REV}(?:/(?P<path>.+))?", _Handler.tree),
    ("GET", rf"/api/{KIND}/{REPO}/refs", _Handler.refs),
    ("GET", rf"/api/{KIND}/{REPO}/commits/{REV}", _Handler.commits),
    ("GET", rf"/api/datasets/{REPO}/parquet(?:/(?P<config>[^/]+)(?:/(?P<split>[^/]+))?)?", _Handler.parquet),
    ("GET", rf"/api/{KIND}/{REPO}(?:/revision/{REV})?", _Handler.repo_info),
    ("POST", rf"(?:/(?P<prefix>datasets))?/{REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("POST", rf"(?:/(?P<prefix>datasets))?/{REPO}\.git/info/lfs/objects/verify", _Handler.lfs_verify),
    ("PUT", r"/lfs-upload/(?P<ticket>\w+)(?:/(?P<part>\d+))?", _Handler.lfs_put),
    ("POST", r"/lfs-upload/(?P<ticket>\w+)", _Handler.lfs_complete),
    ("GET", rf"(?:/(?P<prefix>datasets))?/{REPO}/resolve/{REV}/(?P<path>.+)", _Handler.resolve),
]


def main():
    parser = argparse.ArgumentParser(description="Serve a Hub-compatible test server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--root", default=None, help="Storage folder (default: a temporary one).")
    parser.add_argument("--token", action="append", default=[], help="TOKEN=USER (write access); repeatable.")
    args = parser.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="hub-server-")
    tokens = {t.split("=", 1)[0]: (t.split("=", 1)[1], "write") for t in args.token}
    server = HubServer(root, tokens)
    print(f"serving {server.start(args.port)} from {root}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
