package failpoint

import (
	"net/http"

	"k8s.io/client-go/rest"
)

// WrapConfig returns cfg with a transport that crashes right after the API
// server confirms a PersistentVolume create, when AfterPVCreate is armed.
// Otherwise cfg is returned as it is.
func WrapConfig(cfg *rest.Config) *rest.Config {
	if !Armed(AfterPVCreate) {
		return cfg
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && req.Method == http.MethodPost && resp.StatusCode == http.StatusCreated && req.URL.Path == "/api/v1/persistentvolumes" {
				Crash(AfterPVCreate)
			}
			return resp, err
		})
	})
	return cfg
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
