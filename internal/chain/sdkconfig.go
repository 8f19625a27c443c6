package chain

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
)

// The SDK settings bg-agent honours, spelled as the AWS SDKs spell them. The
// environment variable beats the profile key, as in aws-sdk-go-v2/config.
const (
	envCABundle    = "AWS_CA_BUNDLE"
	envMaxAttempts = "AWS_MAX_ATTEMPTS"
	envRetryMode   = "AWS_RETRY_MODE"
	keyCABundle    = "ca_bundle"
	keyMaxAttempts = "max_attempts"
	keyRetryMode   = "retry_mode"
)

// sdkSettings are the resolved SDK settings of one profile.
type sdkSettings struct {
	caBundle string // the CA bundle file; "" for the system roots
	caFrom   string // what named it: "AWS_CA_BUNDLE" or "ca_bundle of profile P in F"
	caFix    string // the hint for a bad bundle
	caPEM    []byte // its contents

	maxAttempts int           // attempts per request; 0 when not set
	retryMode   aws.RetryMode // "" when not set (standard)
}

// resolveSettings reads the settings from getenv and from profile
// o.Profile of o.ConfigFile. Empty ConfigFile or Profile means environment
// only: a client without a profile never borrows another profile's settings
// (the SDK would fall back to AWS_PROFILE or [default]).
func resolveSettings(o ClientOptions, getenv func(string) string) (sdkSettings, error) {
	var s sdkSettings
	keys, err := profileKeys(o.ConfigFile, o.Profile)
	if err != nil {
		return s, err
	}
	where := fmt.Sprintf("of profile %s in %s", o.Profile, o.ConfigFile)

	if v := getenv(envCABundle); v != "" {
		s.caBundle, s.caFrom = v, envCABundle
		s.caFix = "point " + envCABundle + " at a PEM file of CA certificates, or unset it to use the system's"
	} else if v := keys[keyCABundle]; v != "" {
		s.caBundle, s.caFrom = v, keyCABundle+" "+where
		s.caFix = "point " + keyCABundle + " of profile " + o.Profile + " at a PEM file of CA certificates, or remove it to use the system's"
	}
	if s.caBundle != "" {
		if s.caPEM, err = os.ReadFile(s.caBundle); err != nil {
			return s, bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("cannot read the CA bundle %s named by %s: %s", s.caBundle, s.caFrom, pathErr(err)),
				s.caFix)
		}
	}

	if v := getenv(envMaxAttempts); v != "" {
		if s.maxAttempts, err = parseAttempts(v); err != nil {
			return s, bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("%s=%q is not a number of attempts", envMaxAttempts, v),
				"set "+envMaxAttempts+" to a whole number of attempts per region, 1 or more, or unset it")
		}
	} else if v := keys[keyMaxAttempts]; v != "" {
		if s.maxAttempts, err = parseAttempts(v); err != nil {
			return s, bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("%s = %s %s is not a number of attempts", keyMaxAttempts, v, where),
				"set "+keyMaxAttempts+" of profile "+o.Profile+" to a whole number of attempts per region, 1 or more, or remove it")
		}
	}

	if v := getenv(envRetryMode); v != "" {
		if s.retryMode, err = aws.ParseRetryMode(v); err != nil {
			return s, bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("%s=%q is not a retry mode", envRetryMode, v),
				"set "+envRetryMode+" to standard or adaptive, or unset it")
		}
	} else if v := keys[keyRetryMode]; v != "" {
		if s.retryMode, err = aws.ParseRetryMode(v); err != nil {
			return s, bgerr.Wrap(bgerr.KindConfig, err,
				fmt.Sprintf("%s = %s %s is not a retry mode", keyRetryMode, v, where),
				"set "+keyRetryMode+" of profile "+o.Profile+" to standard or adaptive, or remove it")
		}
	}
	return s, nil
}

// parseAttempts accepts a decimal count of at least 1. (The SDK reads 0 as
// "not set" and lets a negative count through; here both are mistakes.)
func parseAttempts(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, errors.New("fewer than 1 attempt")
	}
	return n, nil
}

func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return oneLine(err.Error())
}

// rootCAs returns the TLS roots of the settings' CA bundle (nil for the
// system roots), or an error naming the bundle and the fix when it holds no
// certificate.
func (s sdkSettings) rootCAs() (*x509.CertPool, error) {
	if s.caBundle == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.caPEM) {
		return nil, bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("the CA bundle %s named by %s holds no PEM certificate", s.caBundle, s.caFrom),
			s.caFix)
	}
	return pool, nil
}

// withRootCAs makes a transport trust pool as the SDK's resolveCustomCABundle
// does: the bundle's certificates become the root CAs, so the system roots
// no longer apply. (The SDK's resolveCustomCABundle also appends to RootCAs
// an earlier option set; newHTTPClient's options set none.)
func withRootCAs(pool *x509.CertPool) func(*http.Transport) {
	return func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
}

// trustKey names what decides an HTTP client's TLS trust: the CA bundle's
// contents (not its name, so an edited bundle gets a fresh client), or the
// system roots. Proxies come from the environment, the same for every profile.
func (s sdkSettings) trustKey() string {
	if s.caBundle == "" {
		return "system"
	}
	sum := sha256.Sum256(s.caPEM)
	return "pem:" + hex.EncodeToString(sum[:])
}

// retryer builds each client's retryer with the SDK's retry package:
// standard or adaptive mode, with the configured attempts (the SDK default
// when not set; callers may still cap them per client with RetryMaxAttempts).
func (s sdkSettings) retryer() func() aws.Retryer {
	mode, attempts := s.retryMode, s.maxAttempts
	return func() aws.Retryer {
		std := func(so *retry.StandardOptions) {
			if attempts > 0 {
				so.MaxAttempts = attempts
			}
		}
		if mode == aws.RetryModeAdaptive {
			return retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
				ao.StandardOptions = append(ao.StandardOptions, std)
			})
		}
		return retry.NewStandard(std)
	}
}

// profileKeys returns the SDK settings of profile name in the shared config
// file, read by the config package (same parse, same section rules: the
// last section of a name wins) and cleaned as the SDK's ini parser cleans
// values (inline " #"/" ;" comments dropped, surrounding quotes removed).
// A missing file has no keys, as in the SDK.
func profileKeys(file, name string) (map[string]string, error) {
	if file == "" || name == "" {
		return nil, nil
	}
	raw, err := config.RawKeys(file, name)
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, k := range []string{keyCABundle, keyMaxAttempts, keyRetryMode} {
		if v, ok := raw[k]; ok {
			keys[k] = sdkValue(v)
		}
	}
	return keys, nil
}

// sdkValue cleans a raw value as aws-sdk-go-v2's ini parser does.
func sdkValue(v string) string {
	for _, c := range []string{" #", " ;", "\t#", "\t;"} {
		v, _, _ = strings.Cut(v, c)
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return v
}
