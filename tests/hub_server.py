"""A small Hugging Face Hub-compatible HTTP server for offline tests (standard library, plus PyYAML when present).

It implements what ``huggingface_hub``'s client calls to push and pull models, over the same HTTP endpoints and
headers the real Hub uses:

- ``GET /api/whoami-v2``; ``POST /api/repos/create`` (409 when it exists, private or public);
  ``POST /api/validate-yaml`` (README metadata check before a commit);
- ``POST /api/models/{id}/preupload/{rev}`` (regular or LFS per file, remote oid to skip unchanged files),
  ``POST /{id}.git/info/lfs/objects/batch`` (LFS batch: single PUT, or multipart above ``multipart_threshold``),
  the upload URLs themselves (pre-signed: no token, like S3), ``.../objects/verify``, and
  ``POST /api/models/{id}/commit/{rev}`` (ndjson: ``file``, ``lfsFile``, ``deletedFile``, ``deletedFolder``);
- ``GET /api/models/{id}[/revision/{rev}]`` (model info, siblings), ``GET /api/models/{id}/tree/{rev}[/{path}]``,
  ``POST /api/models/{id}/paths-info/{rev}``, and ``HEAD``/``GET /{id}/resolve/{rev}/{path}`` (ETag, X-Repo-Commit,
  X-Linked-Etag/Size for LFS files, Range requests).

Auth works like the Hub's: ``Authorization: Bearer TOKEN``; an unknown token is a 401 on any route; writes need a
token with the ``write`` role in the repo's namespace (401 without a token, 403 otherwise); a private repo is
"not found" (401, ``X-Error-Code: RepoNotFound``) to anyone but its owner. Repos and blobs live under ``root``, so a
server restarted on the same folder (``HubServer(root).start(port)``) serves what was pushed before.

Fault injection for tests: ``server.cut["commit"] = 1`` drops the connection in the middle of the next commit
request; ``server.cut["lfs"] = 1`` does the same to the next LFS upload (the client retries those).

    python tests/hub_server.py --port 8765 --token hf_me=alice   # serve until Ctrl-C
"""

from __future__ import annotations

import argparse
import base64
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
from urllib.parse import parse_qs, quote, unquote, urlsplit

# What the Hub's default .gitattributes sends to LFS; binary files and files over 10 MB go there too.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".pkl", ".npy", ".npz")
LFS_SIZE = 10 * 1024 * 1024
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class HubServer:
    """The server: ``start()`` returns the endpoint URL, ``stop()`` takes it down (connections included)."""

    def __init__(self, root: str | Path, tokens: dict[str, tuple[str, str]] | None = None, multipart_threshold=None):
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "uploads").mkdir(exist_ok=True)
        self.tokens = dict(tokens or {})  # token -> (user name, "read" | "write")
        self.multipart_threshold = multipart_threshold or 32 * 1024 * 1024
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

    def repo_files(self, repo_id: str) -> dict[str, Path]:
        """Path in repo -> stored blob, at the head of ``main``."""
        files = self.repos[repo_id]["commits"][-1]["files"]
        return {path: self.blob_path(meta["sha256"]) for path, meta in files.items()}

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
                match = re.fullmatch(pattern, path)
                if match and (route_method == method or (route_method == "GET" and method == "HEAD")):
                    handler(self, **{k: v for k, v in match.groupdict().items() if v is not None})
                    break
            else:
                self.hub.unrouted.append(f"{method} {path}")
                raise HubError(404, f"Route not found: {method} {path}")
        except HubError as err:
            self._drain()
            headers = {"X-Error-Message": err.message}
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

    def _repo(self, repo_id: str, write: bool = False) -> dict:
        user, _ = self._user()
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo["private"] and repo["owner"] != user):
            status = 401 if user is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        if write:
            self._can_write(repo["owner"])
        return repo

    def _commit(self, repo: dict, rev: str) -> dict:
        rev = unquote(rev)
        if rev == "main":
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
        if body.get("type", "model") != "model":
            raise HubError(400, "This test server only hosts model repos")
        repo_id = f"{namespace}/{body['name']}"
        url = f"{self.hub.endpoint}/{repo_id}"
        with self.hub.lock:
            if repo_id in self.hub.repos:
                self._drain()
                message = "You already created this model repo"
                return self._json({"error": message, "url": url}, 409, {"X-Error-Message": message})
            private = body.get("visibility") == "private" or bool(body.get("private"))
            first = {"oid": hashlib.sha1(repo_id.encode()).hexdigest(), "title": "initial commit", "date": _now()}
            attributes = self.hub.store_bytes(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
            first["files"] = {".gitattributes": {"sha256": attributes, "lfs": False}}
            self.hub.repos[repo_id] = {"owner": namespace, "private": private, "created": _now(), "commits": [first]}
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
    def preupload(self, repo, rev):
        repo = self._repo(repo, write=True)
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

    def lfs_batch(self, repo):
        repo_id = repo
        self._repo(repo_id, write=True)
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
                verify = {"href": f"{self.hub.endpoint}/{repo_id}.git/info/lfs/objects/verify", "header": {}}
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

    def lfs_verify(self, repo):
        self._repo(repo, write=True)
        body = self._json_body()
        path = self.hub.blob_path(body.get("oid", "-"))
        if not path.exists() or path.stat().st_size != body.get("size"):
            raise HubError(404, "LFS object not found")
        self._json({"ok": True})

    def commit(self, repo, rev):
        repo_id = repo
        repo = self._repo(repo_id, write=True)
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
        url = f"{self.hub.endpoint}/{repo_id}/commit/{oid}"
        self._json({"success": True, "commitOid": oid, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None})

    # --- read
    def _entry(self, path: str, meta: dict, blobs: bool = True) -> dict:
        blob = self.hub.blob_path(meta["sha256"])
        size = blob.stat().st_size
        entry = {"type": "file", "path": path, "size": size}
        if meta["lfs"]:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{meta['sha256']}\nsize {size}\n"
            entry["oid"] = git_blob_oid(pointer.encode())
            entry["lfs"] = {"oid": meta["sha256"], "size": size, "pointerSize": len(pointer)}
        else:
            entry["oid"] = git_blob_oid(blob.read_bytes())
        return entry

    def model_info(self, repo, rev="main"):
        repo_id = repo
        repo = self._repo(repo_id)
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
        self._json(
            {
                "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo["owner"],
                "sha": commit["oid"],
                "lastModified": commit["date"],
                "createdAt": repo["created"],
                "private": repo["private"],
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "library_name": card.get("library_name"),
                "pipeline_tag": card.get("pipeline_tag"),
                "tags": list(card.get("tags") or []),
                "cardData": card or None,
                "siblings": siblings,
            }
        )

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

    def tree(self, repo, rev, path=""):
        repo = self._repo(repo)
        files = self._commit(repo, rev)["files"]
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in files):
            raise HubError(404, f"{path} does not exist on this revision", "EntryNotFound")
        entries, folders = [], set()
        for name, meta in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/", 1)[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                folders.update(prefix + "/".join(parts[: i + 1]) for i in range(len(parts)))
            entries.append(self._entry(name, meta))
        dirs = [
            {"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0} for f in folders
        ]
        self._json(sorted(dirs, key=lambda d: d["path"]) + entries)

    def paths_info(self, repo, rev):
        repo = self._repo(repo)
        files = self._commit(repo, rev)["files"]
        form = parse_qs(self._body().decode())
        out = []
        for path in form.get("paths", []):
            if path in files:
                out.append(self._entry(path, files[path]))
            elif any(p.startswith(path.rstrip("/") + "/") for p in files):
                out.append({"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest()})
        self._json(out)

    def resolve(self, repo, rev, path):
        repo = self._repo(repo)
        commit = self._commit(repo, rev)
        meta = commit["files"].get(path)
        headers = {"X-Repo-Commit": commit["oid"], "Accept-Ranges": "bytes"}
        if meta is None:
            raise HubError(404, "Entry not found", "EntryNotFound")
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
            start, end = int(match.group(1)), int(match.group(2) or size - 1) + 1
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
    ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", _Handler.preupload),
    ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", _Handler.commit),
    ("POST", rf"/api/models/{REPO}/paths-info/(?P<rev>[^/]+)", _Handler.paths_info),
    ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", _Handler.tree),
    ("GET", rf"/api/models/{REPO}(?:/revision/(?P<rev>[^/]+))?", _Handler.model_info),
    ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("POST", rf"/{REPO}\.git/info/lfs/objects/verify", _Handler.lfs_verify),
    ("PUT", r"/lfs-upload/(?P<ticket>\w+)(?:/(?P<part>\d+))?", _Handler.lfs_put),
    ("POST", r"/lfs-upload/(?P<ticket>\w+)", _Handler.lfs_complete),
    ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", _Handler.resolve),
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
