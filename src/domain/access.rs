//! Roles, optional permissions and capabilities (R-ROLE-1, R-ROLE-2): who may do what. Pure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
    OrdersAdmin,
    Stakeholder,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Supervisor, Role::Agent, Role::OrdersAdmin, Role::Stakeholder];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::OrdersAdmin => "orders_admin",
            Role::Stakeholder => "stakeholder",
        }
    }

    /// The optional permissions this role can be granted (R-ROLE-2).
    pub fn optional_permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Agent => &[Dispenser, Transfer, StandaloneOrders],
            Role::Supervisor => &[OrdersPayments, Reconcile, StandaloneOrders, ConversationReports, PaymentReports],
            Role::OrdersAdmin => &[StandaloneOrders, Reconcile, PaymentReports],
            Role::Admin | Role::Stakeholder => &[],
        }
    }
}

/// Optional permissions, granted per user on top of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Dispenser,
    Transfer,
    StandaloneOrders,
    OrdersPayments,
    Reconcile,
    ConversationReports,
    PaymentReports,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Dispenser,
        Permission::Transfer,
        Permission::StandaloneOrders,
        Permission::OrdersPayments,
        Permission::Reconcile,
        Permission::ConversationReports,
        Permission::PaymentReports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Dispenser => "dispenser",
            Permission::Transfer => "transfer",
            Permission::StandaloneOrders => "standalone_orders",
            Permission::OrdersPayments => "orders_payments",
            Permission::Reconcile => "reconcile",
            Permission::ConversationReports => "conversation_reports",
            Permission::PaymentReports => "payment_reports",
        }
    }
}

/// The roles and optional permissions of a signed-in user, as the permission check sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
}

impl Grants {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_permission(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// Staff who work in the conversations area (everyone but a pure orders administrator).
    fn is_conversation_staff(&self) -> bool {
        self.roles.iter().any(|role| *role != Role::OrdersAdmin)
    }
}

/// What a route needs. Every route names one; `allows` is the only place that decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Anyone, signed in or not (login, invites, health).
    Public,
    /// Any signed-in user (own profile, own tokens, logout).
    SignedIn,
    /// Staff of the conversations area (every role but a pure orders administrator): see
    /// conversations, groups, agents, the panel.
    Staff,
    /// Work conversations: reply, note, finalize, label (agents, supervisors, administrators;
    /// stakeholders only look).
    Converse,
    /// Transfer a conversation to another agent or group: agents with `transfer`, supervisors, admins.
    Transfer,
    /// Take the next waiting conversation by hand: agents with `dispenser`, supervisors, admins.
    Dispense,
    /// Assign any conversation, edit contacts: supervisors and administrators.
    Oversee,
    /// Things only an agent has: availability ("accept new conversations").
    AgentRole,
    /// Users, groups, channels, outbox, audit: administrators only.
    Administer,
    /// Checked by the handler with a channel's own token, not a user's.
    ChannelToken,
    /// Public web-widget routes, checked by the handler with a visitor token.
    Visitor,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Public => "public",
            Capability::SignedIn => "signed_in",
            Capability::Staff => "staff",
            Capability::Converse => "converse",
            Capability::Transfer => "transfer",
            Capability::Dispense => "dispense",
            Capability::Oversee => "oversee",
            Capability::AgentRole => "agent",
            Capability::Administer => "administer",
            Capability::ChannelToken => "channel_token",
            Capability::Visitor => "visitor",
        }
    }
}

/// The role decision: may a caller with these grants (`None`: not signed in) use the capability?
pub fn allows(grants: Option<&Grants>, capability: Capability) -> bool {
    let oversees = |g: &Grants| g.has_role(Role::Admin) || g.has_role(Role::Supervisor);
    let agent_with = |g: &Grants, p: Permission| g.has_role(Role::Agent) && g.has_permission(p);
    match (capability, grants) {
        (Capability::Public | Capability::ChannelToken | Capability::Visitor, _) => true,
        (_, None) => false,
        (Capability::SignedIn, Some(_)) => true,
        (Capability::Staff, Some(g)) => g.is_conversation_staff(),
        (Capability::Converse, Some(g)) => oversees(g) || g.has_role(Role::Agent),
        (Capability::Transfer, Some(g)) => oversees(g) || agent_with(g, Permission::Transfer),
        (Capability::Dispense, Some(g)) => oversees(g) || agent_with(g, Permission::Dispenser),
        (Capability::Oversee, Some(g)) => oversees(g),
        (Capability::AgentRole, Some(g)) => g.has_role(Role::Agent),
        (Capability::Administer, Some(g)) => g.has_role(Role::Admin),
    }
}

/// Optional permissions that none of `roles` can carry.
pub fn misplaced_permissions(roles: &[Role], permissions: &[Permission]) -> Vec<Permission> {
    permissions
        .iter()
        .copied()
        .filter(|permission| !roles.iter().any(|role| role.optional_permissions().contains(permission)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(role: Role) -> Grants {
        Grants { roles: vec![role], permissions: vec![] }
    }

    #[test]
    fn the_role_matrix() {
        use Capability::*;
        let expected: &[(Role, [bool; 4])] = &[
            //                     Public SignedIn Staff Administer
            (Role::Admin, [true, true, true, true]),
            (Role::Supervisor, [true, true, true, false]),
            (Role::Agent, [true, true, true, false]),
            (Role::OrdersAdmin, [true, true, false, false]),
            (Role::Stakeholder, [true, true, true, false]),
        ];
        for (role, row) in expected {
            let got = [Public, SignedIn, Staff, Administer].map(|cap| allows(Some(&only(*role)), cap));
            assert_eq!(&got, row, "{role:?}");
        }
        assert_eq!([Public, SignedIn, Staff, Administer].map(|cap| allows(None, cap)), [true, false, false, false]);
    }

    #[test]
    fn optional_permissions_follow_r_role_2() {
        assert!(misplaced_permissions(&[Role::Agent], &[Permission::Dispenser, Permission::Transfer]).is_empty());
        assert_eq!(misplaced_permissions(&[Role::Agent], &[Permission::Reconcile]), vec![Permission::Reconcile]);
        assert!(misplaced_permissions(&[Role::Agent, Role::Supervisor], &[Permission::Reconcile]).is_empty());
        assert_eq!(misplaced_permissions(&[Role::Admin], &[Permission::Dispenser]), vec![Permission::Dispenser]);
        for role in Role::ALL {
            for permission in role.optional_permissions() {
                assert!(Permission::ALL.contains(permission));
            }
        }
    }

    #[test]
    fn names_match_the_serialized_form() {
        for role in Role::ALL {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        for permission in Permission::ALL {
            assert_eq!(serde_json::to_value(permission).unwrap(), permission.as_str());
        }
    }
}
