export type OrgRole = 'owner' | 'admin' | 'member';
export type ProjectRole = 'admin' | 'reviewer' | 'viewer';
export type Tier = 'free' | 'pro' | 'enterprise';

/** Who is acting, in which org, through which credential. Built by authentication, never from a body. */
export interface Actor {
  userId: string;
  orgId: string;
  orgRole: OrgRole;
  /** Set when the request authenticated with an API key. */
  apiKeyId: string | null;
  /** API keys may be limited to projects (null = all projects of the org). */
  keyProjectIds: string[] | null;
  /** API keys may cap the role they act with. */
  keyMaxRole: ProjectRole | null;
}

/** Request facts recorded in the audit trail. */
export interface RequestContext {
  actor: Actor;
  ip: string | null;
  userAgent: string | null;
  correlationId: string;
}
