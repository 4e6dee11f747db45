package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfiles keeps install/images/ (not buildable here: no Docker) in
// step with the images "make images" builds: same binary path, entrypoint,
// user and version stamping.
func TestDockerfiles(t *testing.T) {
	for _, s := range Specs() {
		t.Run(s.Name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("../../install/images", "Dockerfile."+s.Name))
			if err != nil {
				t.Fatal(err)
			}
			uid := strconv.Itoa(s.UID)
			for _, want := range []string{
				"FROM --platform=$BUILDPLATFORM golang:1.26 AS build",
				"CGO_ENABLED=0",
				"-trimpath",
				"-X github.com/weftmesh/weft/version.Version=${VERSION} -X github.com/weftmesh/weft/version.Commit=${COMMIT}",
				"./cmd/" + s.Name + "\n",
				"FROM gcr.io/distroless/static:nonroot",
				"COPY --from=build /out/" + s.Name + " " + BinDir + "/" + s.Name + "\n",
				"USER " + uid + ":" + uid + "\n",
				`ENTRYPOINT ["` + BinDir + "/" + s.Name + `"]`,
			} {
				if !strings.Contains(string(text), want) {
					t.Errorf("Dockerfile.%s lacks %q", s.Name, want)
				}
			}
		})
	}
}
