//! Packet Flow Descriptions provisioned by PFCP PFD Management (TS 29.244
//! §6.2.2, §7.4.3): the node keeps the PFDs of each Application ID, owned,
//! so that session rules naming an Application ID can be translated later.

use std::collections::BTreeMap;

use crate::codec::grouped::ApplicationIdsPfds;
use crate::codec::ies::PfdContents;
use crate::codec::{DecodeError, ie_type as t};

/// One PFD of an application, owned. The additional fields (AFD, AURL,
/// ADNP) are merged into the lists: a Flow Description and its Additional
/// Flow Descriptions are all flow descriptions of this PFD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pfd {
    /// FD then AFD items: IPFilterRule text (TS 29.212 §5.4.2).
    pub flow_descriptions: Vec<Vec<u8>>,
    /// URL then AURL items.
    pub urls: Vec<Vec<u8>>,
    /// DN then the domain names of ADNP (raw items, name and protocol).
    pub domain_names: Vec<Vec<u8>>,
    pub domain_name_protocol: Option<Vec<u8>>,
    /// CP: custom PFD content.
    pub custom_pfd_content: Option<Vec<u8>>,
}

impl Pfd {
    /// From a decoded PFD contents IE.
    ///
    /// # Errors
    /// [`DecodeError`] naming PFD contents when an additional field's item
    /// list is malformed.
    pub fn from_contents(c: &PfdContents<'_>) -> Result<Self, DecodeError> {
        let items =
            |first: Option<&[u8]>, more: Option<&[u8]>| -> Result<Vec<Vec<u8>>, DecodeError> {
                let mut v: Vec<Vec<u8>> = first.into_iter().map(<[u8]>::to_vec).collect();
                if let Some(m) = more {
                    let list = PfdContents::items(m).map_err(|e| e.within(t::PFD_CONTENTS))?;
                    v.extend(list.into_iter().map(<[u8]>::to_vec));
                }
                Ok(v)
            };
        Ok(Pfd {
            flow_descriptions: items(c.flow_description, c.additional_flow_description)?,
            urls: items(c.url, c.additional_url)?,
            domain_names: items(c.domain_name, c.additional_domain_name_and_protocol)?,
            domain_name_protocol: c.domain_name_protocol.map(<[u8]>::to_vec),
            custom_pfd_content: c.custom_pfd_content.map(<[u8]>::to_vec),
        })
    }

    /// Whether this PFD is made of flow descriptions only (no URL, domain
    /// name or custom content), so that packet filters can express it.
    #[must_use]
    pub fn is_flow_only(&self) -> bool {
        !self.flow_descriptions.is_empty()
            && self.urls.is_empty()
            && self.domain_names.is_empty()
            && self.domain_name_protocol.is_none()
            && self.custom_pfd_content.is_none()
    }
}

/// The PFDs of every application the SMFs provisioned (one table for the
/// node: an Application ID means the same application to every SMF).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PfdTable {
    apps: BTreeMap<Vec<u8>, Vec<Pfd>>,
    /// PFDs over all applications (kept with `apps`: O(1) to read).
    pfds: usize,
}

impl PfdTable {
    /// The PFDs of `app`, if any were provisioned.
    #[must_use]
    pub fn get(&self, app: &[u8]) -> Option<&[Pfd]> {
        self.apps.get(app).map(Vec::as_slice)
    }

    /// Applications with PFDs, in byte order.
    pub fn applications(&self) -> impl Iterator<Item = &[u8]> {
        self.apps.keys().map(Vec::as_slice)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// PFDs over all applications.
    #[must_use]
    pub fn pfd_count(&self) -> usize {
        self.pfds
    }

    /// Apply a PFD Management Request (TS 29.244 §6.2.2.2): each named
    /// application's PFDs are replaced by those given (removed when it has
    /// no PFD context); a request naming no application removes all PFDs.
    /// All or nothing: on error the table is unchanged.
    ///
    /// # Errors
    /// [`DecodeError`] naming the offending IE.
    pub fn apply(&mut self, apps: &[ApplicationIdsPfds<'_>]) -> Result<(), DecodeError> {
        if apps.is_empty() {
            self.apps.clear();
            self.pfds = 0;
            return Ok(());
        }
        let mut staged: Vec<(Vec<u8>, Vec<Pfd>)> = Vec::with_capacity(apps.len());
        for a in apps {
            if a.application_id.is_empty() {
                return Err(DecodeError::value().within(t::APPLICATION_ID));
            }
            let mut pfds = Vec::new();
            for ctx in &a.pfd_contexts {
                for c in &ctx.pfd_contents {
                    pfds.push(Pfd::from_contents(c)?);
                }
            }
            staged.push((a.application_id.to_vec(), pfds));
        }
        for (app, pfds) in staged {
            self.pfds += pfds.len();
            let old = if pfds.is_empty() {
                self.apps.remove(&app)
            } else {
                self.apps.insert(app, pfds)
            };
            self.pfds -= old.map_or(0, |o| o.len());
        }
        Ok(())
    }
}
