package v1alpha1

// CELMessages are the messages of the CRDs' CEL rules, for the test that
// checks install/crds says the same.
func CELMessages() []string {
	return []string{
		msgPortLevelNeedsSelector, msgPortLevelUnset, msgEmptyRule, msgPrincipal, msgNamespace,
		msgServiceAccount, msgIPBlock, msgMethod, msgHost, msgPathOneOf,
		msgPathSlash, msgConditionValues, msgHeaderName, msgCookieName,
		msgServiceName, msgHashOnRequired, msgHashOnForbidden, msgHashOnOneOf,
		msgPositiveDuration, msgTimeout,
	}
}
