#!/usr/bin/env python3
"""Writes an OCI image layout of random-content layers, for benchmarks.

usage: make-image.py LAYOUT TAG SIZE_MB[,SIZE_MB...] [--compression gzip|none] [--busybox]

Each layer holds one file of incompressible bytes (/data/layer-N); with --busybox the first
layer is /bin/busybox with an `sh` link, so the image can run. Output: an OCI layout at LAYOUT
that `skopeo copy oci:LAYOUT:TAG docker://…` pushes.
"""
import argparse, gzip, hashlib, io, json, os, shutil, subprocess, sys, tarfile, tempfile


def blob(layout, data_path):
    h = hashlib.sha256()
    size = 0
    with open(data_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    digest = h.hexdigest()
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)
    shutil.move(data_path, f"{layout}/blobs/sha256/{digest}")
    return "sha256:" + digest, size


def json_blob(layout, obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    fd, path = tempfile.mkstemp(dir=layout)
    os.write(fd, raw)
    os.close(fd)
    return blob(layout, path)


def layer_tar(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, source, kind in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = source
                tar.addfile(info)
            else:
                info.size = os.path.getsize(source)
                info.mode = 0o755
                with open(source, "rb") as f:
                    tar.addfile(info, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("layout")
    p.add_argument("tag")
    p.add_argument("sizes")
    p.add_argument("--compression", default="gzip", choices=["gzip", "none"])
    p.add_argument("--busybox", action="store_true")
    a = p.parse_args()
    os.makedirs(a.layout, exist_ok=True)
    with open(f"{a.layout}/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    work = tempfile.mkdtemp(dir=a.layout)
    layers, diff_ids = [], []
    specs = []
    if a.busybox:
        specs.append([("bin", None, "dir"), ("bin/busybox", "/bin/busybox", "file"), ("bin/sh", "busybox", "link")])
    for i, mb in enumerate(int(s) for s in a.sizes.split(",")):
        data = f"{work}/data-{i}"
        with open("/dev/urandom", "rb") as src, open(data, "wb") as dst:
            for _ in range(mb):
                dst.write(src.read(1 << 20))
        specs.append([("data", None, "dir"), (f"data/layer-{i}", data, "file")])
    for i, entries in enumerate(specs):
        tar = f"{work}/layer-{i}.tar"
        layer_tar(tar, entries)
        diff_id, _ = blob(a.layout, shutil.copy(tar, tar + ".copy"))
        diff_ids.append(diff_id)
        if a.compression == "gzip":
            subprocess.run(["gzip", "-1", "-n", tar], check=True)
            digest, size = blob(a.layout, tar + ".gz")
            media = "application/vnd.oci.image.layer.v1.tar+gzip"
        else:
            digest, size = blob(a.layout, tar)
            media = "application/vnd.oci.image.layer.v1.tar"
        layers.append({"mediaType": media, "digest": digest, "size": size})
    config = {"architecture": "amd64" if os.uname().machine == "x86_64" else "arm64", "os": "linux",
              "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdigest, csize = json_blob(a.layout, config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
                "layers": layers}
    mdigest, msize = json_blob(a.layout, manifest)
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": mdigest, "size": msize, "annotations": {"org.opencontainers.image.ref.name": a.tag}}]}
    with open(f"{a.layout}/index.json", "w") as f:
        json.dump(index, f)
    shutil.rmtree(work)
    print(mdigest)


if __name__ == "__main__":
    main()
