package aws

import (
	"errors"
	"strings"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// forbiddenCodes are the error codes AWS services use when the caller lacks a permission
// (or an SCP denies it). They become forbidden gaps: missing evidence, not a failed control.
var forbiddenCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"UnauthorizedAccess": true, "AuthorizationError": true, "Forbidden": true,
	"AuthorizationErrorException": true, "InvalidClientTokenId": true,
	"UnrecognizedClientException": true, "AuthFailure": true, "ExpiredToken": true,
	"SignatureDoesNotMatch": true, "MissingAuthenticationToken": true,
}

// throttleCodes are the codes of errors that stayed throttled after the retryer's
// bounded attempts.
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"RequestLimitExceeded": true, "SlowDown": true, "RequestThrottled": true,
	"EC2ThrottledException": true, "LimitExceededException": true,
}

// notEnabledCodes mean the account has not enabled or subscribed to the service, or the
// region is not enabled for it. Items that can judge "not enabled" as a failing control
// handle these themselves before they reach classify.
var notEnabledCodes = map[string]bool{
	"OptInRequired": true, "SubscriptionRequiredException": true, "InvalidAccessException": true,
	"AWSOrganizationsNotInUseException": true,
}

// classify maps an SDK error to the gap status it means.
func classify(err error) evidence.Status {
	var ge *connector.GapError
	if errors.As(err, &ge) && ge.Status != "" {
		return ge.Status
	}
	if code := errorCode(err); code != "" {
		switch {
		case forbiddenCodes[code]:
			return evidence.StatusForbidden
		case throttleCodes[code]:
			return evidence.StatusThrottled
		case notEnabledCodes[code]:
			return evidence.StatusNotEnabled
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return connector.StatusForHTTP(re.Response.StatusCode)
	}
	return evidence.StatusFailed
}

// errorCode returns the AWS error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isCode reports whether err is an AWS API error with one of codes.
func isCode(err error, codes ...string) bool {
	code := errorCode(err)
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// messageContains reports whether err is an API error whose message contains s (case
// insensitive). Some services say "not enabled" only in the message.
func messageContains(err error, s string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.ErrorMessage()), strings.ToLower(s))
}
