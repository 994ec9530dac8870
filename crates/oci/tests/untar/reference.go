// The judge of oci::untar: reads archives with Go's archive/tar, the reader Docker,
// containerd, Podman, umoci and crane unpack layers with, and prints what it read.
//
// Input on stdin: archives, each as a 4-byte big-endian length and its bytes.
// Output: one JSON line per archive, {"entries": [...], "error": "..."}, names and link
// targets in hex so that no byte is lost. Global PAX headers are left out, as runtimes skip
// them.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
)

type entry struct {
	Name   string `json:"name"`
	Link   string `json:"link"`
	Type   int    `json:"type"`
	Size   int64  `json:"size"`
	Mode   int64  `json:"mode"`
	Uid    int    `json:"uid"`
	Gid    int    `json:"gid"`
	Sha256 string `json:"sha256"`
}

type result struct {
	Entries []entry `json:"entries"`
	Error   string  `json:"error"`
}

func read(archive []byte) result {
	r := result{Entries: []entry{}}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return r
		}
		if err != nil {
			r.Error = err.Error()
			return r
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			r.Error = err.Error()
			return r
		}
		r.Entries = append(r.Entries, entry{
			Name: hex.EncodeToString([]byte(h.Name)), Link: hex.EncodeToString([]byte(h.Linkname)),
			Type: int(h.Typeflag), Size: h.Size, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid,
			Sha256: hex.EncodeToString(sum.Sum(nil)),
		})
	}
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for {
		var n uint32
		if err := binary.Read(in, binary.BigEndian, &n); err != nil {
			return
		}
		archive := make([]byte, n)
		if _, err := io.ReadFull(in, archive); err != nil {
			panic(err)
		}
		if err := enc.Encode(read(archive)); err != nil {
			panic(err)
		}
	}
}
