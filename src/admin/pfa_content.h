/* SQL fragments that write a finding's text and evidence, shared by
 * demo-data and analyzer-pass so both produce the same kinds of findings.
 *
 * They read columns of a row source aliased "s":
 *   s.ftype      finding type (see PFA_SQL_FTYPE)
 *   s.role_name  role the finding is about, s.scope its scope
 *   s.name       identity display name, s.upn, s.app_id (may be NULL)
 *   s.e1         random 0..131071, s.e2 random 0..255
 *   s.anchor     "now" of the data
 * Only constants and column references: no user input is ever pasted in.
 */
#ifndef PFA_CONTENT_H
#define PFA_CONTENT_H

/* Seconds-precision RFC 3339, as an analyzer would put it in evidence. */
#define PFA_SQL_EVTS(x) \
    "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The types that make sense for each kind of identity; ty is any
 * non-negative integer (120 is a multiple of every list length).
 * No identity: a tenant-wide finding. */
#define PFA_SQL_FTYPE(itype, ty) \
    "CASE " itype \
    " WHEN 'user' THEN (ARRAY['standing_privileged_access','unused_permissions'," \
    "   'unused_permissions','mfa_not_enforced','dormant_account'," \
    "   'standing_privileged_access'])[1 + (" ty ") % 6]" \
    " WHEN 'group' THEN (ARRAY['standing_privileged_access','unused_permissions'," \
    "   'privileged_group_exposure'])[1 + (" ty ") % 3]" \
    " WHEN 'servicePrincipal' THEN (ARRAY['overprivileged_service_principal'," \
    "   'stale_credential','unused_permissions','standing_privileged_access'," \
    "   'dormant_account'])[1 + (" ty ") % 5]" \
    " WHEN 'managedIdentity' THEN (ARRAY['unused_permissions'," \
    "   'managed_identity_broad_scope'])[1 + (" ty ") % 2]" \
    " WHEN 'agentIdentity' THEN (ARRAY['agent_unrestricted_access','stale_credential'," \
    "   'unused_permissions'])[1 + (" ty ") % 3]" \
    " ELSE (ARRAY['legacy_authentication_enabled','conditional_access_gap'])[1 + (" ty ") % 2]" \
    " END"

/* Numbers the texts and the evidence agree on. */
#define PFA_SQL_DAYS_UNUSED   "(30 + s.e1 % 180)"
#define PFA_SQL_DAYS_DORMANT  "(90 + s.e1 % 400)"
#define PFA_SQL_CRED_AGE      "(180 + s.e1 % 900)"
#define PFA_SQL_MEMBERS       "(3 + s.e2 % 60)"

#define PFA_SQL_TITLE \
    "CASE s.ftype" \
    " WHEN 'standing_privileged_access' THEN format('Standing %s assignment for %s', s.role_name, s.name)" \
    " WHEN 'unused_permissions' THEN format('%s has not used %s permissions for %s days', s.name, s.role_name, " PFA_SQL_DAYS_UNUSED ")" \
    " WHEN 'mfa_not_enforced' THEN format('MFA is not enforced for %s', s.name)" \
    " WHEN 'dormant_account' THEN format('%s has not signed in for %s days', s.name, " PFA_SQL_DAYS_DORMANT ")" \
    " WHEN 'privileged_group_exposure' THEN format('Group %s grants %s to %s members', s.name, s.role_name, " PFA_SQL_MEMBERS ")" \
    " WHEN 'overprivileged_service_principal' THEN format('%s holds application permissions it never uses', s.name)" \
    " WHEN 'stale_credential' THEN format('A credential of %s is %s days old', s.name, " PFA_SQL_CRED_AGE ")" \
    " WHEN 'managed_identity_broad_scope' THEN format('%s has broad %s access', s.name, s.role_name)" \
    " WHEN 'agent_unrestricted_access' THEN format('Agent %s can use %s without human approval', s.name, s.role_name)" \
    " WHEN 'legacy_authentication_enabled' THEN 'Legacy authentication protocols are allowed'" \
    " ELSE 'No Conditional Access policy covers privileged roles' END"

#define PFA_SQL_DESCRIPTION \
    "CASE s.ftype" \
    " WHEN 'standing_privileged_access' THEN format('%s holds %s as a permanent, active assignment: whoever compromises the identity can use it at any time.', s.name, s.role_name)" \
    " WHEN 'unused_permissions' THEN format('%s has not exercised any permission of %s for %s days.', s.name, s.role_name, " PFA_SQL_DAYS_UNUSED ")" \
    " WHEN 'mfa_not_enforced' THEN format('%s (%s) signs in with a password alone; no Conditional Access policy requires MFA.', s.name, s.upn)" \
    " WHEN 'dormant_account' THEN format('%s has not signed in for %s days but is still enabled and holds %s.', s.name, " PFA_SQL_DAYS_DORMANT ", s.role_name)" \
    " WHEN 'privileged_group_exposure' THEN format('Every member of %s, nested groups included, inherits %s.', s.name, s.role_name)" \
    " WHEN 'overprivileged_service_principal' THEN format('Application %s holds Microsoft Graph write permissions but used only User.Read.All in 90 days.', s.name)" \
    " WHEN 'stale_credential' THEN format('A credential of %s has not been rotated for %s days.', s.name, " PFA_SQL_CRED_AGE ")" \
    " WHEN 'managed_identity_broad_scope' THEN format('Managed identity %s has %s far beyond the resources its workload uses.', s.name, s.role_name)" \
    " WHEN 'agent_unrestricted_access' THEN format('Agent identity %s acts autonomously with %s; no approval step gates its actions.', s.name, s.role_name)" \
    " WHEN 'legacy_authentication_enabled' THEN 'IMAP, POP3 and SMTP AUTH still accept basic authentication, which bypasses MFA.'" \
    " ELSE 'Activations of privileged directory roles are not covered by any Conditional Access policy.' END"

#define PFA_SQL_REMEDIATION \
    "CASE s.ftype" \
    " WHEN 'standing_privileged_access' THEN 'Make the assignment eligible in PIM with approval and an 8-hour maximum activation.'" \
    " WHEN 'unused_permissions' THEN 'Remove the assignment or replace it with a narrower role.'" \
    " WHEN 'mfa_not_enforced' THEN 'Require phishing-resistant MFA for this user with Conditional Access.'" \
    " WHEN 'dormant_account' THEN 'Disable the account and remove its role assignments.'" \
    " WHEN 'privileged_group_exposure' THEN 'Review the members and grant the role through PIM for Groups.'" \
    " WHEN 'overprivileged_service_principal' THEN 'Revoke the unused application permissions.'" \
    " WHEN 'stale_credential' THEN 'Rotate the credential, or replace it with a federated credential.'" \
    " WHEN 'managed_identity_broad_scope' THEN 'Scope the assignment to the resources the workload uses.'" \
    " WHEN 'agent_unrestricted_access' THEN 'Assign an owner and require human approval for privileged actions.'" \
    " WHEN 'legacy_authentication_enabled' THEN 'Block legacy authentication with a Conditional Access policy.'" \
    " ELSE 'Require phishing-resistant MFA for every privileged directory role.' END"

#define PFA_SQL_EVIDENCE \
    "CASE s.ftype" \
    " WHEN 'standing_privileged_access' THEN jsonb_build_object('roleName', s.role_name," \
    "   'scope', s.scope, 'assignmentType', 'active', 'assignedDays', 30 + s.e1 % 700)" \
    " WHEN 'unused_permissions' THEN jsonb_build_object('roleName', s.role_name, 'scope', s.scope," \
    "   'daysUnused', " PFA_SQL_DAYS_UNUSED "," \
    "   'lastUsed', " PFA_SQL_EVTS("s.anchor - " PFA_SQL_DAYS_UNUSED " * interval '1 day' - s.e2 * interval '1 minute'") "," \
    "   'unusedPermissionCount', 5 + s.e2 % 80)" \
    " WHEN 'mfa_not_enforced' THEN jsonb_build_object('userPrincipalName', s.upn," \
    "   'registeredMethods', CASE WHEN s.e2 % 3 = 0 THEN '[\"password\",\"sms\"]'::jsonb ELSE '[\"password\"]'::jsonb END," \
    "   'privilegedRole', s.role_name)" \
    " WHEN 'dormant_account' THEN jsonb_build_object(" \
    "   'lastSignInAt', " PFA_SQL_EVTS("s.anchor - " PFA_SQL_DAYS_DORMANT " * interval '1 day'") "," \
    "   'daysSinceLastSignIn', " PFA_SQL_DAYS_DORMANT ", 'roleName', s.role_name)" \
    " WHEN 'privileged_group_exposure' THEN jsonb_build_object('roleName', s.role_name, 'scope', s.scope," \
    "   'memberCount', " PFA_SQL_MEMBERS ", 'guestMembers', s.e2 % 3)" \
    " WHEN 'overprivileged_service_principal' THEN jsonb_build_object('appId', s.app_id," \
    "   'grantedPermissions', '[\"Directory.ReadWrite.All\",\"Mail.ReadWrite\",\"User.Read.All\"]'::jsonb," \
    "   'usedPermissions', '[\"User.Read.All\"]'::jsonb)" \
    " WHEN 'stale_credential' THEN jsonb_build_object(" \
    "   'credentialType', CASE WHEN s.e2 % 3 = 0 THEN 'certificate' ELSE 'clientSecret' END," \
    "   'ageDays', " PFA_SQL_CRED_AGE ", 'neverExpires', s.e2 % 4 = 0)" \
    " WHEN 'managed_identity_broad_scope' THEN jsonb_build_object('roleName', s.role_name, 'scope', s.scope," \
    "   'resourcesInScope', 20 + s.e1 % 900)" \
    " WHEN 'agent_unrestricted_access' THEN jsonb_build_object('roleName', s.role_name, 'scope', s.scope," \
    "   'approvalRequired', false, 'actionsLast30Days', s.e1 % 5000)" \
    " WHEN 'legacy_authentication_enabled' THEN jsonb_build_object(" \
    "   'protocols', '[\"IMAP\",\"POP3\",\"SMTP AUTH\"]'::jsonb, 'signInsLast30Days', s.e1 % 4000)" \
    " ELSE jsonb_build_object('uncoveredRoles', '[\"Global Administrator\",\"Privileged Role Administrator\"]'::jsonb)" \
    " END"

/* Severity from a 0..99 draw: 5% critical, 20% high, 40% medium, 35% low. */
#define PFA_SQL_SEVERITY(d) \
    "CASE WHEN (" d ") < 5 THEN 'critical' WHEN (" d ") < 25 THEN 'high'" \
    " WHEN (" d ") < 65 THEN 'medium' ELSE 'low' END"

/* Random non-negative integers from 15 hex digits (60 bits) of an md5. */
#define PFA_SQL_BITS(h, from) "('x' || substr(" h ", " from ", 15))::bit(60)::bigint"

#endif
