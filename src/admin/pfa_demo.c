/* demo-data: realistic, deterministic demo data, generated set-based in
 * the database (INSERT ... SELECT over generate_series), one statement per
 * table, so a million findings load in about a minute.
 *
 * Every id and every random choice comes from
 * md5(customer_id || ':' || kind || ':' || n || ':' || seed), so the same
 * customer, seed and sizes give the same rows; ids are shaped as version-4
 * UUIDs, findings' as version-7 (see sql_findings_insert). Timestamps are
 * measured back from a fixed --as-of moment, not from now(). The whole
 * load is one transaction that first removes the customer's tenants (and
 * everything below them), so a rerun replaces the data instead of failing. */
#define _POSIX_C_SOURCE 200809L

#include "pfa.h"
#include "pfa_content.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_AS_OF "2026-11-01T00:00:00Z"

#define BITS(h, from) PFA_SQL_BITS(h, from)
/* A version-4-shaped UUID from 32 hex digits, like the ids Azure issues. */
#define UUID4(h) \
    "(substr(" h ", 1, 12) || '4' || substr(" h ", 14, 3)" \
    " || substr('89ab', 1 + ('x' || substr(" h ", 17, 1))::bit(4)::int % 4, 1)" \
    " || substr(" h ", 18, 15))::uuid"
/* 90 and 15 days in microseconds, 90 days in milliseconds. */
#define US_90D "7776000000000"
#define US_15D "1296000000000"
#define MS_90D "7776000000"

/* Built-in role names and definition ids as Azure and Entra ID publish
 * them; the weight makes common roles common. */
static const char sql_roles[] =
    "CREATE TEMP TABLE pfa_role ON COMMIT DROP AS"
    " SELECT v.pool, (row_number() OVER (PARTITION BY v.pool ORDER BY v.ord, w.w) - 1)::int AS slot,"
    "        v.name, v.def_id::uuid AS def_id, v.rtype"
    " FROM (VALUES"
    "  ('dir',  1, 'Global Administrator',             '62e90394-69f5-4237-9190-012177145e10', 'dir', 2),"
    "  ('dir',  2, 'Privileged Role Administrator',    'e8611ab8-c189-46e8-94e1-60213ab1f814', 'dir', 1),"
    "  ('dir',  3, 'Security Administrator',           '194ae4cb-b126-40b2-bd5b-6091b380977d', 'dir', 1),"
    "  ('dir',  4, 'User Administrator',               'fe930be7-5e62-47db-91af-98c3a49a38b1', 'dir', 2),"
    "  ('dir',  5, 'Application Administrator',        '9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3', 'dir', 2),"
    "  ('dir',  6, 'Cloud Application Administrator',  '158c047a-c907-4556-b7ef-446551a6b5f7', 'dir', 1),"
    "  ('dir',  7, 'Global Reader',                    'f2ef992c-3afb-46b9-b7cf-a126ee74c451', 'dir', 2),"
    "  ('dir',  8, 'Security Reader',                  '5d6b6bb7-de71-4623-b4af-96380a352509', 'dir', 2),"
    "  ('dir',  9, 'Helpdesk Administrator',           '729827e3-9c14-49f7-bb1b-9608f156bbb8', 'dir', 2),"
    "  ('dir', 10, 'Exchange Administrator',           '29232cdf-9323-42fd-ade2-1d097af3e4de', 'dir', 1),"
    "  ('rbac', 1, 'Reader',                           'acdd72a7-3385-48ef-bd42-f606fba81ae7', 'gen', 6),"
    "  ('rbac', 2, 'Contributor',                      'b24988ac-6180-42a0-ab88-20f7382dd24c', 'gen', 5),"
    "  ('rbac', 3, 'Owner',                            '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'gen', 2),"
    "  ('rbac', 4, 'User Access Administrator',        '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', 'gen', 1),"
    "  ('rbac', 5, 'Key Vault Administrator',          '00482a5a-887f-4fb3-b363-3b7fe8e74483', 'kv', 1),"
    "  ('rbac', 6, 'Key Vault Secrets User',           '4633458b-17de-408a-b874-0445c86b69e6', 'kv', 2),"
    "  ('rbac', 7, 'Storage Blob Data Contributor',    'ba92f5b4-2d11-453d-a403-e96b0029c9fe', 'st', 2),"
    "  ('rbac', 8, 'Storage Blob Data Reader',         '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1', 'st', 2),"
    "  ('rbac', 9, 'Virtual Machine Contributor',      '9980e02c-c2be-4d73-94e8-173b1dc7cf3c', 'gen', 1),"
    "  ('rbac',10, 'Network Contributor',              '4d97b98b-1d4f-4787-a291-c67834d212e7', 'gen', 1),"
    "  ('rbac',11, 'Monitoring Reader',                '43d0d8ad-25c7-4714-9337-8ba259a9fe05', 'gen', 2),"
    "  ('rbac',12, 'AcrPush',                          '8311e382-0749-4cb8-b61a-304f252e45ec', 'acr', 1),"
    "  ('rbac',13, 'Website Contributor',              'de139f84-1756-47ae-9be6-808fbbe84772', 'gen', 1)"
    " ) AS v(pool, ord, name, def_id, rtype, weight)"
    " CROSS JOIN LATERAL generate_series(1, v.weight) AS w(w)";

/* Least-privilege alternatives and the permissions the excess grants. */
static const char sql_recs[] =
    "CREATE TEMP TABLE pfa_rec ON COMMIT DROP AS SELECT * FROM (VALUES"
    " ('Global Administrator', 'User Administrator', ARRAY["
    "   'microsoft.directory/roleAssignments/allProperties/allTasks',"
    "   'microsoft.directory/applications/allProperties/update',"
    "   'microsoft.directory/domains/allProperties/allTasks',"
    "   'microsoft.directory/policies/allProperties/allTasks',"
    "   'microsoft.directory/organization/allProperties/update']),"
    " ('Privileged Role Administrator', 'Global Reader', ARRAY["
    "   'microsoft.directory/roleAssignments/allProperties/allTasks',"
    "   'microsoft.directory/roleDefinitions/allProperties/allTasks',"
    "   'microsoft.directory/privilegedIdentityManagement/allProperties/allTasks']),"
    " ('Security Administrator', 'Security Reader', ARRAY["
    "   'microsoft.directory/conditionalAccessPolicies/create',"
    "   'microsoft.directory/policies/create',"
    "   'microsoft.directory/identityProtection/allProperties/update']),"
    " ('User Administrator', 'Helpdesk Administrator', ARRAY["
    "   'microsoft.directory/users/create', 'microsoft.directory/users/delete',"
    "   'microsoft.directory/groups/create', 'microsoft.directory/users/assignLicense']),"
    " ('Application Administrator', 'Cloud Application Administrator', ARRAY["
    "   'microsoft.directory/applicationPolicies/create',"
    "   'microsoft.directory/connectorGroups/create',"
    "   'microsoft.directory/servicePrincipals/appRoleAssignedTo/update']),"
    " ('Cloud Application Administrator', 'Application Developer', ARRAY["
    "   'microsoft.directory/applications/credentials/update',"
    "   'microsoft.directory/servicePrincipals/credentials/update',"
    "   'microsoft.directory/servicePrincipals/managePermissionGrantsForAll.microsoft-company-admin']),"
    " ('Helpdesk Administrator', 'Directory Readers', ARRAY["
    "   'microsoft.directory/users/password/update',"
    "   'microsoft.directory/users/invalidateAllRefreshTokens']),"
    " ('Exchange Administrator', 'Global Reader', ARRAY["
    "   'microsoft.office365.exchange/allEntities/basic/allTasks',"
    "   'microsoft.directory/groups.unified/create']),"
    " ('Owner', 'Contributor', ARRAY["
    "   'Microsoft.Authorization/roleAssignments/write',"
    "   'Microsoft.Authorization/roleAssignments/delete',"
    "   'Microsoft.Authorization/policyAssignments/write',"
    "   'Microsoft.Authorization/locks/delete']),"
    " ('Contributor', 'Reader', ARRAY["
    "   'Microsoft.Compute/virtualMachines/delete', 'Microsoft.Compute/virtualMachines/write',"
    "   'Microsoft.Network/virtualNetworks/write', 'Microsoft.Storage/storageAccounts/delete',"
    "   'Microsoft.Resources/deployments/write', 'Microsoft.Web/sites/write']),"
    " ('User Access Administrator', 'Role Based Access Control Administrator', ARRAY["
    "   'Microsoft.Authorization/roleDefinitions/write',"
    "   'Microsoft.Authorization/policyAssignments/write',"
    "   'Microsoft.Authorization/denyAssignments/write']),"
    " ('Key Vault Administrator', 'Key Vault Secrets User', ARRAY["
    "   'Microsoft.KeyVault/vaults/keys/delete', 'Microsoft.KeyVault/vaults/secrets/delete',"
    "   'Microsoft.KeyVault/vaults/certificates/purge/action',"
    "   'Microsoft.KeyVault/vaults/keys/rotate/action']),"
    " ('Storage Blob Data Contributor', 'Storage Blob Data Reader', ARRAY["
    "   'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete',"
    "   'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',"
    "   'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action',"
    "   'Microsoft.Storage/storageAccounts/blobServices/containers/write']),"
    " ('Virtual Machine Contributor', 'Reader', ARRAY["
    "   'Microsoft.Compute/virtualMachines/delete',"
    "   'Microsoft.Compute/virtualMachines/restart/action',"
    "   'Microsoft.Compute/virtualMachines/runCommand/action']),"
    " ('Network Contributor', 'Reader', ARRAY["
    "   'Microsoft.Network/networkSecurityGroups/write',"
    "   'Microsoft.Network/publicIPAddresses/write',"
    "   'Microsoft.Network/virtualNetworks/subnets/delete']),"
    " ('Website Contributor', 'Reader', ARRAY["
    "   'Microsoft.Web/sites/write', 'Microsoft.Web/sites/delete',"
    "   'Microsoft.Web/sites/config/write'])"
    " ) AS v(cur, rec, perms)";

/* Tenants: one company per five tenants, one environment each, so a small
 * customer looks like "Contoso Production", "Contoso Staging", ... */
static const char sql_tenants[] =
    "CREATE TEMP TABLE pfa_t ON COMMIT DROP AS"
    " SELECT x.n, x.tenant_id, x.company || ' ' || x.env || x.sfx AS display_name,"
    "   lower(regexp_replace(x.company, '[^A-Za-z0-9]', '', 'g')) AS slug,"
    "   lower(regexp_replace(x.company, '[^A-Za-z0-9]', '', 'g')) || x.env_slug"
    "     || replace(x.sfx, ' ', '') || '.onmicrosoft.com' AS domain,"
    "   CASE WHEN x.n % 7 = 3 THEN 'error' WHEN x.n % 7 = 5 THEN 'disconnected'"
    "        ELSE 'connected' END AS status,"
    "   x.anchor - (200 + x.r % 700) * interval '1 day' - ((x.r >> 12) % 86400) * interval '1 second'"
    "     AS connected_at,"
    "   x.r, x.sub1, x.sub2, x.anchor"
    " FROM (SELECT t.n, " UUID4("md5(p.kc || 'tenant:' || t.n || p.ks)") " AS tenant_id, p.anchor,"
    "   (ARRAY['Contoso', 'Fabrikam', 'Northwind Traders', 'Adventure Works', 'Tailspin Toys',"
    "          'Wide World Importers', 'Woodgrove Bank', 'Litware', 'Proseware', 'Alpine Ski House',"
    "          'Coho Winery', 'Humongous Insurance', 'Lamna Healthcare', 'Relecloud',"
    "          'Trey Research', 'Wingtip Toys', 'Blue Yonder Airlines', 'Margie''s Travel',"
    "          'Fourth Coffee', 'Lucerne Publishing'])[1 + (o.off + (t.n - 1) / 5) % 20] AS company,"
    "   (ARRAY['Production', 'Staging', 'Development', 'EU', 'Corporate'])[1 + (t.n - 1) % 5] AS env,"
    "   (ARRAY['', 'staging', 'dev', 'eu', 'corp'])[1 + (t.n - 1) % 5] AS env_slug,"
    "   CASE WHEN t.n > 100 THEN ' ' || ((t.n - 1) / 100 + 1) ELSE '' END AS sfx,"
    "   " BITS("md5(p.kc || 'tenant:' || t.n || p.ks)", "1") " AS r,"
    "   " UUID4("md5(p.kc || 'subscription:' || t.n || ':1' || p.ks)") " AS sub1,"
    "   " UUID4("md5(p.kc || 'subscription:' || t.n || ':2' || p.ks)") " AS sub2"
    "  FROM pfa_p p CROSS JOIN generate_series(1, p.nt) AS t(n)"
    "  CROSS JOIN (SELECT get_byte(decode(md5(kc || 'company' || ks), 'hex'), 0) % 20 AS off"
    "              FROM pfa_p) o) x";

static const char sql_tenants_insert[] =
    "INSERT INTO permafrost.tenants"
    " (customer_id, tenant_id, display_name, primary_domain, status, connected_at, last_sync_at)"
    " SELECT p.cid, t.tenant_id, t.display_name, t.domain, t.status, t.connected_at,"
    "   CASE t.status"
    "     WHEN 'connected' THEN t.anchor - ((t.r >> 20) % 3600000000) * interval '1 microsecond'"
    "     WHEN 'disconnected' THEN t.anchor - (20 + (t.r >> 20) % 30) * interval '1 day'"
    "     ELSE t.anchor - (1 + (t.r >> 20) % 3) * interval '1 day' END"
    " FROM pfa_t t CROSS JOIN pfa_p p";

/* Identities. The first ten are fixed so every type and every awkward
 * name (quotes, backslash, accents, emoji, right-to-left) exists even in
 * small data sets; the rest are drawn: 60% users, 12% groups, 15% service
 * principals, 9% managed identities, 4% agent identities. */
static const char sql_identities[] =
    "CREATE TEMP TABLE pfa_i ON COMMIT DROP AS"
    " SELECT c.n, " UUID4("c.h") " AS id, c.t, t.tenant_id, c.type,"
    "   CASE WHEN c.n <= 10 THEN (ARRAY['Siobhán O''Brien', E'Ops \\\\ Admin', '🚀 Deploy Bot',"
    "          'mi-aks-prod-eastus', '🤖 Triage Agent', 'محمد العلي', 'Zoë Müller',"
    "          '\"Break Glass\" Admins', 'Terraform Cloud – Prod', 'José García-Núñez'])[c.n]"
    "     WHEN c.type = 'user' THEN c.first || ' ' || c.last"
    "     WHEN c.type = 'group' THEN (ARRAY['Cloud Platform Engineers', 'Security Operations',"
    "          'SG-Finance-Readers', 'Helpdesk Tier 1', 'All Employees', 'Contractors – External',"
    "          'DevOps Leads', 'Data & Analytics', 'Réseau Administrateurs', 'فريق الأمن',"
    "          'SAP Basis Admins', 'Azure Subscription Owners', E'Ops \\\\ Admin',"
    "          '\"Break Glass\" Admins', 'Dev/Test Contributors', 'Compliance Auditors'])"
    "          [1 + (c.r >> 7) % 16] || ' ' || c.n"
    "     WHEN c.type = 'servicePrincipal' THEN (ARRAY['🚀 Deploy Bot', 'Terraform Cloud',"
    "          'GitHub Actions', 'Azure DevOps', 'Backup Vault Connector', 'Datadog Integration',"
    "          'ServiceNow Connector', 'Power BI Embedded', 'Jenkins CI', 'Veeam Backup',"
    "          'Microsoft Graph PowerShell', 'HR Sync (Workday)', 'Zscaler Provisioning',"
    "          'Salesforce SSO'])[1 + (c.r >> 7) % 14] || ' ' || c.n"
    "     WHEN c.type = 'managedIdentity' THEN 'mi-' || (ARRAY['aks', 'func-billing', 'webapp',"
    "          'logicapp', 'vm-build', 'adf', 'apim', 'aci-jobs', 'sql-sync', 'eventgrid'])"
    "          [1 + (c.r >> 7) % 10] || '-' || (ARRAY['prod', 'stg', 'dev', 'eu'])[1 + (c.r >> 12) % 4]"
    "          || '-' || c.n"
    "     ELSE (ARRAY['Copilot Studio Agent', '🤖 Triage Agent', 'Sales Assistant Agent',"
    "          'IT Helpdesk Agent', 'Invoice Processing Agent', 'وكيل الدعم', 'Code Review Agent',"
    "          'Agent «Procurement»'])[1 + (c.r >> 7) % 8] || ' ' || c.n"
    "   END AS display_name,"
    "   CASE WHEN c.type = 'user' THEN"
    "     CASE WHEN c.n <= 10 THEN (ARRAY['siobhan.obrien', NULL, NULL, NULL, NULL,"
    "            'mohammed.alali', 'zoe.mueller', NULL, NULL, 'jose.garcianunez'])[c.n]"
    "          ELSE c.first_ascii || '.' || c.last_ascii || c.n END || '@' || t.domain"
    "   END AS upn,"
    "   CASE WHEN c.type IN ('servicePrincipal', 'managedIdentity', 'agentIdentity')"
    "     THEN " UUID4("md5(c.h || ':app')") " END AS app_id,"
    "   " UUID4("md5(c.h || ':object')") " AS object_id,"
    "   c.enabled, c.created_at,"
    "   CASE WHEN c.type = 'group' OR (c.r >> 30) % 100 < 12 THEN NULL"
    "     WHEN NOT c.enabled THEN greatest(c.created_at + interval '1 hour',"
    "       t.anchor - interval '95 days' - (c.rc % 17280000000000) * interval '1 microsecond')"
    "     ELSE greatest(c.created_at + interval '1 hour',"
    "       t.anchor - (c.rc % 12960000000000) * interval '1 microsecond') END AS last_sign_in_at,"
    "   c.r, c.rb, c.rc"
    " FROM (SELECT b.*,"
    "     CASE WHEN b.n <= 10 THEN (ARRAY['user', 'group', 'servicePrincipal', 'managedIdentity',"
    "            'agentIdentity', 'user', 'user', 'group', 'servicePrincipal', 'user'])[b.n]"
    "          WHEN b.r % 100 < 60 THEN 'user' WHEN b.r % 100 < 72 THEN 'group'"
    "          WHEN b.r % 100 < 87 THEN 'servicePrincipal' WHEN b.r % 100 < 96 THEN 'managedIdentity'"
    "          ELSE 'agentIdentity' END AS type,"
    "     b.n <= 10 OR (b.r >> 20) % 100 < 93 AS enabled,"
    "     b.anchor - interval '30 days' - (b.rb % 129600000000000) * interval '1 microsecond'"
    "       AS created_at,"
    "     (ARRAY['Emma', 'Liam', 'Zoë', 'José', 'Björn', 'محمد', 'Aoife', 'Chloé', 'Søren', 'Priya',"
    "            'Wei', 'Fatima', 'Noah', 'Olivia', 'Mateo', 'Yuki', 'Amara', 'Lukas', 'Sofía',"
    "            'Dmitri', 'Ingrid', 'Kwame', 'Hannah', 'Jean-Luc', 'Siobhán', 'Ahmed', 'Maria',"
    "            'David', 'Sarah', 'James', 'Elena', 'Thabo'])[1 + (b.r >> 7) % 32] AS first,"
    "     (ARRAY['emma', 'liam', 'zoe', 'jose', 'bjorn', 'mohammed', 'aoife', 'chloe', 'soren',"
    "            'priya', 'wei', 'fatima', 'noah', 'olivia', 'mateo', 'yuki', 'amara', 'lukas',"
    "            'sofia', 'dmitri', 'ingrid', 'kwame', 'hannah', 'jeanluc', 'siobhan', 'ahmed',"
    "            'maria', 'david', 'sarah', 'james', 'elena', 'thabo'])[1 + (b.r >> 7) % 32]"
    "       AS first_ascii,"
    "     (ARRAY['Smith', 'O''Brien', 'Müller', 'García', 'Nguyễn', 'Kowalski', 'العلي', 'Johansson',"
    "            'Tanaka', 'Okafor', 'Dubois', 'Rossi', 'Patel', 'Chen', 'Novák', 'Fernández', 'Kim',"
    "            'Williams', 'Brown', 'Jones', 'Ivanova', 'Schmidt', 'D''Angelo', 'Lefèvre',"
    "            'Andersen', 'Murphy', 'Silva', 'Cohen', 'Kaya', 'Hansen', 'Moreau', 'Taylor'])"
    "       [1 + (b.r >> 12) % 32] AS last,"
    "     (ARRAY['smith', 'obrien', 'mueller', 'garcia', 'nguyen', 'kowalski', 'alali', 'johansson',"
    "            'tanaka', 'okafor', 'dubois', 'rossi', 'patel', 'chen', 'novak', 'fernandez', 'kim',"
    "            'williams', 'brown', 'jones', 'ivanova', 'schmidt', 'dangelo', 'lefevre',"
    "            'andersen', 'murphy', 'silva', 'cohen', 'kaya', 'hansen', 'moreau', 'taylor'])"
    "       [1 + (b.r >> 12) % 32] AS last_ascii"
    "   FROM (SELECT a.n, a.h, a.t, a.anchor, " BITS("a.h", "1") " AS r, " BITS("a.h", "16") " AS rb,"
    "           " BITS("md5(a.h)", "1") " AS rc"
    "         FROM (SELECT i.n, md5(p.kc || 'identity:' || i.n || p.ks) AS h,"
    "                 1 + (i.n - 1) % p.nt AS t, p.anchor"
    "               FROM pfa_p p CROSS JOIN generate_series(1, p.ni) AS i(n) OFFSET 0) a"
    "         OFFSET 0) b) c"
    " JOIN pfa_t t ON t.n = c.t";

static const char sql_identities_insert[] =
    "INSERT INTO permafrost.identities (id, customer_id, tenant_id, type, display_name,"
    "   user_principal_name, app_id, object_id, enabled, created_at, last_sign_in_at)"
    " SELECT i.id, p.cid, i.tenant_id, i.type, i.display_name, i.upn, i.app_id, i.object_id,"
    "   i.enabled, i.created_at, i.last_sign_in_at"
    " FROM pfa_i i CROSS JOIN pfa_p p ORDER BY i.n";

/* 1 to 4 role assignments per identity (mostly 1 or 2); directory roles
 * for people and groups now and then, Azure RBAC roles otherwise; PIM
 * eligibility only for users and groups. */
static const char sql_assignments[] =
    "CREATE TEMP TABLE pfa_ra ON COMMIT DROP AS"
    " SELECT z.n, z.k, " UUID4("z.h") " AS id, r.name AS role_name, r.def_id,"
    "   CASE r.rtype"
    "     WHEN 'dir' THEN '/'"
    "     WHEN 'kv' THEN z.rg_scope || '/providers/Microsoft.KeyVault/vaults/kv-'"
    "       || left(z.slug, 12) || '-' || (z.q >> 40) % 20"
    "     WHEN 'st' THEN z.rg_scope || '/providers/Microsoft.Storage/storageAccounts/st'"
    "       || left(z.slug, 14) || (z.q >> 40) % 100"
    "     WHEN 'acr' THEN z.rg_scope || '/providers/Microsoft.ContainerRegistry/registries/acr'"
    "       || left(z.slug, 14)"
    "     ELSE CASE WHEN (z.q >> 32) % 100 < 10"
    "                 THEN '/providers/Microsoft.Management/managementGroups/mg-' || z.slug"
    "               WHEN (z.q >> 32) % 100 < 40 THEN '/subscriptions/' || z.sub"
    "               ELSE z.rg_scope END"
    "   END AS scope,"
    "   CASE WHEN z.itype IN ('user', 'group') AND (z.q >> 8) % 100 < 25 THEN 'eligible'"
    "        ELSE 'active' END AS assignment_type,"
    "   z.created_at + (z.anchor - z.created_at) * (((z.q >> 16) % 1000) / 1000.0) AS created_at"
    " FROM (SELECT y.*, '/subscriptions/' || y.sub || '/resourceGroups/' || (ARRAY['rg-app',"
    "          'rg-data', 'rg-network', 'rg-prod-web', 'rg-shared-services', 'rg-monitoring',"
    "          'rg-identity', 'rg-aks-prod', 'rg-billing', 'rg-analytics'])[1 + (y.q >> 24) % 10]"
    "          AS rg_scope,"
    "        CASE WHEN y.itype IN ('user', 'group') AND y.q2 % 100 < 30 THEN 'dir'"
    "             WHEN y.itype IN ('servicePrincipal', 'agentIdentity') AND y.q2 % 100 < 8 THEN 'dir'"
    "             ELSE 'rbac' END AS pool"
    "   FROM (SELECT x.*, " BITS("x.h", "1") " AS q, " BITS("x.h", "16") " AS q2"
    "         FROM (SELECT i.n, k.k, i.type AS itype, i.created_at, t.slug, p.anchor,"
    "                 CASE WHEN k.k % 2 = 1 THEN t.sub1 ELSE t.sub2 END AS sub,"
    "                 md5(p.kc || 'role-assignment:' || i.n || ':' || k.k || p.ks) AS h"
    "               FROM pfa_i i JOIN pfa_t t ON t.n = i.t CROSS JOIN pfa_p p"
    "               CROSS JOIN LATERAL generate_series(1,"
    "                 (ARRAY[1, 1, 1, 1, 2, 2, 2, 3, 3, 4])[1 + (i.r >> 40) % 10]) AS k(k)"
    "               OFFSET 0) x"
    "         OFFSET 0) y) z"
    " JOIN pfa_role r ON r.pool = z.pool AND r.slot = ((z.q2 >> 8)"
    "   % (SELECT count(*) FROM pfa_role r2 WHERE r2.pool = z.pool))::int";

static const char sql_assignments_insert[] =
    "INSERT INTO permafrost.role_assignments (id, customer_id, identity_id, role_name,"
    "   role_definition_id, scope, assignment_type, created_at)"
    " SELECT ra.id, p.cid, i.id, ra.role_name, ra.def_id, ra.scope, ra.assignment_type,"
    "   ra.created_at"
    " FROM pfa_ra ra JOIN pfa_i i ON i.n = ra.n CROSS JOIN pfa_p p";

/* Six completed passes per tenant, one every 15 days over the 90 days. */
static const char sql_passes[] =
    "CREATE TEMP TABLE pfa_pass ON COMMIT DROP AS"
    " SELECT t.n AS tn, k.k, " UUID4("md5(p.kc || 'pass:' || t.n || ':' || k.k || p.ks)") " AS id,"
    "   t.tenant_id,"
    "   p.anchor - interval '90 days' + (k.k - 1) * interval '15 days' + (t.n % 97) * interval '7 minutes'"
    "     AS started_at,"
    "   p.anchor - interval '90 days' + (k.k - 1) * interval '15 days' + (t.n % 97) * interval '7 minutes'"
    "     + interval '11 minutes' + (t.r % 1800) * interval '1 second' AS completed_at"
    " FROM pfa_t t CROSS JOIN pfa_p p CROSS JOIN generate_series(1, 6) AS k(k)";

static const char sql_passes_insert[] =
    "INSERT INTO permafrost.analyzer_passes (id, customer_id, tenant_id, started_at, completed_at)"
    " SELECT pp.id, p.cid, pp.tenant_id, pp.started_at, pp.completed_at"
    " FROM pfa_pass pp CROSS JOIN pfa_p p ORDER BY pp.tn, pp.k";

/* What a finding needs from its subject, one row per identity (n > 0) and
 * one per tenant for tenant-wide findings (n = -tenant): a single join
 * for the million-row insert instead of four. */
static const char sql_finding_subjects[] =
    "CREATE TEMP TABLE pfa_fs ON COMMIT DROP AS"
    " SELECT x.n, x.id, t.tenant_id, x.type, x.name, x.upn, x.app_id, x.role_name, x.scope,"
    "   (SELECT array_agg(pp.id ORDER BY pp.k) FROM pfa_pass pp WHERE pp.tn = t.n) AS pass_ids"
    " FROM (SELECT i.n, i.t, i.id, i.type, i.display_name AS name, i.upn, i.app_id,"
    "         ra.role_name, ra.scope"
    "       FROM pfa_i i LEFT JOIN pfa_ra ra ON ra.n = i.n AND ra.k = 1"
    "       UNION ALL"
    "       SELECT -t2.n, t2.n, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM pfa_t t2) x"
    " JOIN pfa_t t ON t.n = x.t";

/* Findings: 3% tenant-wide (no identity), the rest about an identity of
 * the same tenant; 72% open, 18% resolved, 10% suppressed.
 *
 * Speed comes from insertion order. Finding n is first seen in the n-th
 * slot of the 90 days (at a random microsecond within it), and its id is
 * UUIDv7-shaped (48-bit millisecond time of first sighting, then md5 bits),
 * so rows arrive in time order and the primary key, list and pass indexes
 * grow at a few hot spots instead of at random pages: with a million rows
 * the random version thrashes shared_buffers and writes far more WAL.
 *
 * The md5 and its bit slices are computed once per row behind OFFSET 0
 * fences: without them the planner would inline and repeat the md5 for
 * every use. */
static const char sql_findings_insert[] =
    "INSERT INTO permafrost.findings (id, customer_id, tenant_id, identity_id, severity, status,"
    "   finding_type, title, description, remediation, evidence, first_seen_pass_id,"
    "   first_seen_at, last_seen_at, resolved_at)"
    " SELECT (lpad(to_hex(s.id_ms), 12, '0') || '7' || substr(s.h, 14, 3)"
    "     || substr('89ab', 1 + (s.e2 & 3), 1) || substr(s.h, 18, 15))::uuid,"
    "   s.cid, s.tenant_id, s.identity_id, s.severity, s.status, s.ftype,"
    "   " PFA_SQL_TITLE ", " PFA_SQL_DESCRIPTION ", " PFA_SQL_REMEDIATION ", " PFA_SQL_EVIDENCE ","
    "   s.pass_id, s.fs,"
    "   CASE WHEN s.status = 'resolved' THEN s.rs"
    "        ELSE greatest(s.fs, s.anchor - s.e2 * interval '17 minutes') END,"
    "   CASE WHEN s.status = 'resolved' THEN s.rs END"
    " FROM (SELECT g.h, g.e1, g.e2, p.cid, p.anchor, f.tenant_id, f.id AS identity_id,"
    "     f.name, f.upn, f.app_id,"
    "     coalesce(f.role_name, 'Global Administrator') AS role_name,"
    "     coalesce(f.scope, '/') AS scope,"
    "     " PFA_SQL_SEVERITY("g.sev") " AS severity,"
    "     CASE WHEN g.st < 72 THEN 'open' WHEN g.st < 90 THEN 'resolved' ELSE 'suppressed' END"
    "       AS status,"
    "     " PFA_SQL_FTYPE("f.type", "g.ty") " AS ftype,"
    "     p.anchor - interval '90 days' + g.off * interval '1 microsecond' AS fs,"
    "     p.anchor - interval '90 days'"
    "       + (g.off + (" US_90D " - g.off) * g.e1 / 131072) * interval '1 microsecond' AS rs,"
    "     f.pass_ids[1 + g.off / " US_15D "] AS pass_id,"
    "     p.anchor_ms - " MS_90D " + g.off / 1000 AS id_ms"
    "   FROM (SELECT b.h, (b.n - 1) * b.gap + b.r1 % b.gap AS off, b.r1 >> 43 AS e1, b.e2,"
    "           b.r2 & 1073741823 AS pick, (b.r2 >> 30) % 100 AS sev, (b.r2 >> 37) % 100 AS st,"
    "           (b.r2 >> 44) % 120 AS ty, (b.r2 >> 51) % 100 AS nul"
    "         FROM (SELECT a.n, a.gap, a.h, " BITS("a.h", "1") " AS r1, " BITS("a.h", "16") " AS r2,"
    "                 ('x' || substr(a.h, 31, 2))::bit(8)::int AS e2"
    "               FROM (SELECT f.n, greatest(" US_90D " / p.nf, 1) AS gap,"
    "                       md5(p.kc || 'finding:' || f.n || p.ks) AS h"
    "                     FROM pfa_p p CROSS JOIN generate_series(1, p.nf) AS f(n) OFFSET 0) a"
    "               OFFSET 0) b) g"
    "   CROSS JOIN pfa_p p"
    "   JOIN pfa_fs f ON f.n = CASE WHEN p.ni = 0 OR g.nul < 3 THEN -(1 + g.pick % p.nt)"
    "                               ELSE 1 + g.pick % p.ni END"
    "   OFFSET 0) s";

/* About one identity in five whose first role has a narrower alternative. */
static const char sql_recommendations_insert[] =
    "INSERT INTO permafrost.role_recommendations (id, customer_id, tenant_id, identity_id,"
    "   current_role_name, recommended_role_name, scope, unused_permissions, rationale, created_at)"
    " SELECT " UUID4("md5(p.kc || 'recommendation:' || x.n || p.ks)") ", p.cid, x.tenant_id, x.id,"
    "   x.cur, x.rec, x.scope, x.perms[1:x.nperm],"
    "   format('%s used none of these %s permissions of %s at this scope in the last 90 days;"
    " %s covers every operation observed.', x.display_name, x.nperm, x.cur, x.rec),"
    "   p.anchor - ((x.rc >> 10) % 2592000000000) * interval '1 microsecond'"
    " FROM (SELECT i.n, i.id, i.tenant_id, i.display_name, i.rc, ra.scope, m.cur, m.rec, m.perms,"
    "         (2 + (i.rc >> 50) % (cardinality(m.perms) - 1))::int AS nperm"
    "       FROM pfa_i i JOIN pfa_ra ra ON ra.n = i.n AND ra.k = 1"
    "       JOIN pfa_rec m ON m.cur = ra.role_name"
    "       WHERE (i.rb >> 48) % 100 < 40) x"
    " CROSS JOIN pfa_p p";

/* Set-based deletes first: cheaper than letting ON DELETE CASCADE fire
 * once per identity. */
static const char *const sql_deletes[] = {
    "DELETE FROM permafrost.findings WHERE customer_id = $1::uuid",
    "DELETE FROM permafrost.role_recommendations WHERE customer_id = $1::uuid",
    "DELETE FROM permafrost.role_assignments WHERE customer_id = $1::uuid",
    "DELETE FROM permafrost.analyzer_passes WHERE customer_id = $1::uuid",
    "DELETE FROM permafrost.identities WHERE customer_id = $1::uuid",
    "DELETE FROM permafrost.tenants WHERE customer_id = $1::uuid",
};

enum { C_TENANTS, C_IDENTITIES, C_ASSIGNMENTS, C_PASSES, C_FINDINGS, C_RECOMMENDATIONS, C_N };

static const char *const count_names[C_N] = {
    "tenants", "identities", "roleAssignments", "analyzerPasses", "findings", "roleRecommendations"
};

static const char *const count_labels[C_N] = {
    "tenants", "identities", "role assignments", "analyzer passes", "findings",
    "role recommendations"
};

/* Runs one statement without parameters; stores its row count if asked. */
static int step(PGconn *conn, const char *what, const char *sql, long long *count)
{
    PGresult *res = pfa_query(conn, what, sql, 0, NULL);

    if (!res) {
        return -1;
    }
    if (count) {
        *count = atoll(PQcmdTuples(res));
    }
    PQclear(res);
    return 0;
}

enum { D_CUSTOMER, D_TENANTS, D_IDENTITIES, D_FINDINGS, D_SEED, D_AS_OF };

static const pfa_optdef demo_opts[] = {
    [D_CUSTOMER] = { "customer", 1, 0 },
    [D_TENANTS] = { "tenants", 1, 0 },
    [D_IDENTITIES] = { "identities", 1, 0 },
    [D_FINDINGS] = { "findings", 1, 0 },
    [D_SEED] = { "seed", 1, 0 },
    [D_AS_OF] = { "as-of", 1, 0 },
    { NULL, 0, 0 }
};

static int load(PGconn *conn, const char *customer, const char *const *params,
                long long counts[C_N], int *replaced)
{
    const char *cparams[1] = { customer };
    long long removed = 0;
    /* Only a big load is worth fresh statistics (see the ANALYZE below). */
    int big = atoll(params[3]) >= 50000 || atoll(params[4]) >= 50000;
    int found;

    if (pfa_exec(conn, NULL, "BEGIN", 0, NULL) != 0) {
        return -1;
    }
    /* Demo data is reproducible; losing the last second of it in a crash
     * costs nothing, and not waiting for the WAL flush saves time. */
    if (step(conn, NULL, "SET LOCAL synchronous_commit = off", NULL) != 0
        || step(conn, NULL, "SET LOCAL work_mem = '64MB'", NULL) != 0
        /* JIT compiling these wide expressions costs more than it saves. */
        || step(conn, NULL, "SET LOCAL jit = off", NULL) != 0
        /* A merge join would sort the findings by identity and lose the
         * time order the indexes are fed in. */
        || step(conn, NULL, "SET LOCAL enable_mergejoin = off", NULL) != 0) {
        return -1;
    }
    /* Two loads for one customer would otherwise interleave their deletes
     * and inserts and collide on the derived ids. */
    if (pfa_exec(conn, NULL,
                 "SELECT pg_advisory_xact_lock(hashtextextended('permafrost-admin demo-data '"
                 " || $1::text, 0))", 1, cparams) != 0) {
        return -1;
    }
    found = pfa_customer_exists(conn, customer);
    if (found != 1) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(sql_deletes) / sizeof(sql_deletes[0]); i++) {
        PGresult *res = pfa_query(conn, "cannot remove the previous demo data", sql_deletes[i],
                                  1, cparams);
        if (!res) {
            return -1;
        }
        removed += atoll(PQcmdTuples(res));
        PQclear(res);
    }
    *replaced = removed > 0;

    if (pfa_exec(conn, NULL,
                 "CREATE TEMP TABLE pfa_p (cid uuid, kc text, ks text, nt int, ni int, nf int,"
                 " anchor timestamptz, anchor_ms bigint) ON COMMIT DROP", 0, NULL) != 0
        || pfa_exec(conn, NULL,
                    "INSERT INTO pfa_p VALUES ($1::uuid, $1::text || ':', ':' || $2::text,"
                    " $3::int, $4::int, $5::int, $6::timestamptz,"
                    " (extract(epoch FROM $6::timestamptz) * 1000)::bigint)", 6, params) != 0) {
        return -1;
    }
    if (step(conn, NULL, sql_roles, NULL) != 0
        || step(conn, NULL, sql_recs, NULL) != 0
        || step(conn, "cannot generate tenants", sql_tenants, NULL) != 0
        || step(conn, "cannot insert tenants", sql_tenants_insert, &counts[C_TENANTS]) != 0
        || step(conn, "cannot generate identities", sql_identities, NULL) != 0
        || step(conn, NULL, "ANALYZE pfa_t", NULL) != 0
        || step(conn, NULL, "ANALYZE pfa_i", NULL) != 0
        || step(conn, "cannot insert identities", sql_identities_insert,
                &counts[C_IDENTITIES]) != 0
        || step(conn, "cannot generate role assignments", sql_assignments, NULL) != 0
        || step(conn, NULL, "ANALYZE pfa_ra", NULL) != 0
        || step(conn, "cannot insert role assignments", sql_assignments_insert,
                &counts[C_ASSIGNMENTS]) != 0
        /* Passes go in completed and before their findings, so a webhook
         * trigger on completion sees no new findings to announce. */
        || step(conn, NULL, sql_passes, NULL) != 0
        || step(conn, "cannot insert analyzer passes", sql_passes_insert, &counts[C_PASSES]) != 0
        || step(conn, NULL, sql_finding_subjects, NULL) != 0
        || step(conn, NULL, "ANALYZE pfa_fs", NULL) != 0
        || step(conn, "cannot insert findings", sql_findings_insert, &counts[C_FINDINGS]) != 0
        || step(conn, "cannot insert role recommendations", sql_recommendations_insert,
                &counts[C_RECOMMENDATIONS]) != 0) {
        return -1;
    }
    /* After a big load, fresh statistics give the module's first queries
     * good plans; for a small one autovacuum's pace is fine, and sampling
     * other customers' millions of rows would cost more than the load. */
    if (big && step(conn, NULL, "ANALYZE permafrost.tenants, permafrost.identities,"
                    " permafrost.role_assignments, permafrost.analyzer_passes,"
                    " permafrost.findings, permafrost.role_recommendations", NULL) != 0) {
        return -1;
    }
    return pfa_exec(conn, "cannot commit the demo data", "COMMIT", 0, NULL);
}

int pfa_cmd_demo_data(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "demo-data";
    char customer[37], as_of[64] = DEFAULT_AS_OF, nt[24] = "3", ni[24] = "500", nf[24] = "5000";
    char seed[24] = "1";
    const char *val, *params[6];
    long long v, counts[C_N] = { 0 }, epoch;
    int have_customer = 0, replaced = 0, opt, rc;
    struct timespec t0, t1;
    double secs;
    pfa_parser p;
    PGconn *conn;

    pfa_parser_init(&p, ctx, argc, argv, cmd, demo_opts);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        switch (opt) {
        case D_CUSTOMER:
            if (pfa_uuid_arg(val, customer) != 0) {
                return pfa_usage(cmd, "--customer must be a UUID, not '%s'", val);
            }
            have_customer = 1;
            break;
        case D_TENANTS:
            if (pfa_count_arg(val, 1, 10000, &v) != 0) {
                return pfa_usage(cmd, "--tenants must be an integer from 1 to 10000, not '%s'", val);
            }
            snprintf(nt, sizeof(nt), "%lld", v);
            break;
        case D_IDENTITIES:
            if (pfa_count_arg(val, 0, 50000000, &v) != 0) {
                return pfa_usage(cmd, "--identities must be an integer from 0 to 50000000, not '%s'",
                                 val);
            }
            snprintf(ni, sizeof(ni), "%lld", v);
            break;
        case D_FINDINGS:
            if (pfa_count_arg(val, 0, 100000000, &v) != 0) {
                return pfa_usage(cmd, "--findings must be an integer from 0 to 100000000, not '%s'",
                                 val);
            }
            snprintf(nf, sizeof(nf), "%lld", v);
            break;
        case D_SEED:
            if (pfa_count_arg(val, 0, LLONG_MAX, &v) != 0) {
                return pfa_usage(cmd, "--seed must be a non-negative integer, not '%s'", val);
            }
            /* Canonical digits: "007" and "7" are the same seed. */
            snprintf(seed, sizeof(seed), "%lld", v);
            break;
        case D_AS_OF:
            if (pfa_rfc3339_arg(val, as_of, sizeof(as_of), &epoch) != 0) {
                return pfa_usage(cmd, "--as-of must be an RFC 3339 time such as "
                                 "2026-11-01T00:00:00Z, not '%s'", val);
            }
            break;
        case PFA_ARG_HELP:
            pfa_help(cmd);
            return PFA_EXIT_OK;
        case PFA_ARG_POSITIONAL:
            return pfa_usage(cmd, "unexpected argument '%s'", val);
        default:
            return PFA_EXIT_USAGE;
        }
    }
    if (!have_customer) {
        return pfa_usage(cmd, "missing --customer");
    }

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    params[0] = customer;
    params[1] = seed;
    params[2] = nt;
    params[3] = ni;
    params[4] = nf;
    params[5] = as_of;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (load(conn, customer, params, counts, &replaced) != 0) {
        pfa_rollback(conn);
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pfa_disconnect(conn);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "customerId", json_string(customer));
        json_object_set_new(o, "seed", json_integer(atoll(seed)));
        json_object_set_new(o, "asOf", json_string(as_of));
        json_object_set_new(o, "replaced", json_boolean(replaced));
        for (int i = 0; i < C_N; i++) {
            json_object_set_new(o, count_names[i], json_integer(counts[i]));
        }
        json_object_set_new(o, "seconds", json_real((double)(long long)(secs * 1000) / 1000));
        rc = pfa_print_json(o);
    }
    else {
        printf("demo data for customer %s (seed %s, as of %s)%s:\n", customer, seed, as_of,
               replaced ? ", replacing the previous tenants" : "");
        for (int i = 0; i < C_N; i++) {
            printf("  %-22s %10lld\n", count_labels[i], counts[i]);
        }
        printf("loaded in %.1f s\n", secs);
        rc = PFA_EXIT_OK;
    }
    return rc;
}
