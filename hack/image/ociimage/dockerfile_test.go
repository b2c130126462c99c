package ociimage

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Dockerfile builds the same image for those who have Docker: the
// same labels, user, entrypoint, binary build flags and platforms.
func TestDockerfileDescribesTheSameImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for k, v := range Labels("${VERSION}") {
		if !strings.Contains(df, k+"="+`"`+v+`"`) {
			t.Errorf("Dockerfile lacks the label %s=%q", k, v)
		}
	}
	for _, want := range []string{
		"USER 0:0\n",
		`ENTRYPOINT ["` + Entrypoint + `"]`,
		"GOARM=${TARGETVARIANT#v}",
		`go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/hostpath-provisioner ` + Package,
		"COPY --from=builder /out/hostpath-provisioner " + Entrypoint + "\n",
		"--platform " + strings.Join(platformStrings(), ","),
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^LABEL |^\s+org\.opencontainers`).FindAllString(df, -1)); n != len(Labels("")) {
		t.Errorf("Dockerfile has %d label lines, want exactly the %d of Labels", n, len(Labels("")))
	}
}

func platformStrings() []string {
	var out []string
	for _, p := range Platforms {
		out = append(out, PlatformString(p))
	}
	return out
}
