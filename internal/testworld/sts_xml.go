package testworld

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"time"
)

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

// apiError is an AWS error as the wire carries it.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errSignature(msg string) *apiError {
	return &apiError{Status: 403, Code: "SignatureDoesNotMatch", Message: msg}
}

func errAccessDenied(msg string) *apiError {
	return &apiError{Status: 403, Code: "AccessDenied", Message: msg}
}

func errValidation(msg string) *apiError {
	return &apiError{Status: 400, Code: "ValidationError", Message: msg}
}

// errConstraint is the wording AWS uses for parameter constraint failures.
func errConstraint(value any, field, constraint string) *apiError {
	v := "null"
	if value != nil {
		v = fmt.Sprintf("'%v'", value)
	}
	return errValidation(fmt.Sprintf("1 validation error detected: Value %s at '%s' failed to satisfy constraint: Member %s", v, field, constraint))
}

// failSTS writes an STS ErrorResponse.
func (w *World) failSTS(q *request, e *apiError) { w.failQuery(q, stsNS, e) }

// replySTS writes <ActionResponse>result<ResponseMetadata>…; result is a
// struct whose XMLName tag names the <ActionResult> element.
func (w *World) replySTS(q *request, action string, result any) {
	w.replyQuery(q, stsNS, action, result)
}

// failQuery writes a Query-protocol ErrorResponse in service namespace ns
// (STS and SNS share the shape).
func (w *World) failQuery(q *request, ns string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<ErrorResponse xmlns=\"%s\">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n    <Message>", ns, typ, e.Code)
	xml.EscapeText(&b, []byte(e.Message))
	fmt.Fprintf(&b, "</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n", q.reqID)
	q.call.ErrorCode = e.Code
	w.finish(q, e.Status, "text/xml", b.Bytes())
}

// replyQuery writes a Query-protocol <ActionResponse> in namespace ns.
func (w *World) replyQuery(q *request, ns, action string, result any) {
	type metadata struct {
		RequestId string
	}
	env := struct {
		XMLName          xml.Name
		Xmlns            string `xml:"xmlns,attr"`
		Result           any
		ResponseMetadata metadata
	}{XMLName: xml.Name{Local: action + "Response"}, Xmlns: ns, Result: result, ResponseMetadata: metadata{q.reqID}}
	out, err := xml.MarshalIndent(env, "", "  ")
	if err != nil {
		w.failQuery(q, ns, &apiError{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	w.finish(q, 200, "text/xml", append(out, '\n'))
}

// xmlCredentials is STS's Credentials element.
type xmlCredentials struct {
	XMLName         xml.Name `xml:"Credentials"`
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

func credentialsXML(s *session) xmlCredentials {
	return xmlCredentials{AccessKeyId: s.accessKeyID, SecretAccessKey: s.secret, SessionToken: s.token, Expiration: s.expiration.UTC().Format(time.RFC3339)}
}
