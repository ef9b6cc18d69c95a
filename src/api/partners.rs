//! `tessera.v1.PartnerService`: partners and their API keys. Admin only, except that a
//! partner may read itself.

use super::{
    convert::time_field,
    names,
    principal::{Admin, Partner, caller},
};
use crate::{
    domain::{account::parse_display_name, page::PageRequest, partner::PartnerStatus},
    error::Error,
    proto::{self as pb, partner_service_server::PartnerService},
    service::Services,
};
use tonic::{Request, Response, Status};

/// Partners and API keys.
#[derive(Debug, Clone)]
pub struct PartnerApi {
    services: Services,
}

impl PartnerApi {
    /// The service over the use cases.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[tonic::async_trait]
impl PartnerService for PartnerApi {
    async fn create_partner(
        &self,
        request: Request<pb::CreatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        caller::<(Admin,), _>(&request)?;
        let name = parse_display_name("display_name", &request.get_ref().display_name, true)?;
        let partner = self.services.create_partner(&name).await?;
        Ok(Response::new(pb::Partner::from(partner)))
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        let principal = caller::<(Admin, Partner), _>(&request)?;
        let id = names::partner("name", &request.get_ref().name, principal)?;
        let partner = self.services.get_partner(principal, id).await?;
        Ok(Response::new(pb::Partner::from(partner)))
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        caller::<(Admin,), _>(&request)?;
        let req = request.into_inner();
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let page = self.services.list_partners(&page).await?;
        Ok(Response::new(pb::ListPartnersResponse {
            partners: page.items.into_iter().map(pb::Partner::from).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        let principal = caller::<(Admin,), _>(&request)?;
        let req = request.into_inner();
        let partner = req
            .partner
            .ok_or_else(|| Error::invalid("partner", "is required"))?;
        let id = names::partner("partner.name", &partner.name, principal)?;
        // Output-only, so never read; but a malformed timestamp is refused wherever it is.
        time_field("partner.create_time", partner.create_time)?;
        let paths = req.update_mask.map(|mask| mask.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid("update_mask", "must name the fields to update").into());
        }
        let (mut display_name, mut status) = (None, None);
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    display_name = Some(parse_display_name(
                        "partner.display_name",
                        &partner.display_name,
                        true,
                    )?)
                }
                "status" => {
                    status = Some(match pb::PartnerStatus::try_from(partner.status) {
                        Ok(pb::PartnerStatus::Active) => PartnerStatus::Active,
                        Ok(pb::PartnerStatus::Disabled) => PartnerStatus::Disabled,
                        _ => {
                            return Err(Error::invalid(
                                "partner.status",
                                "must be ACTIVE or DISABLED",
                            )
                            .into());
                        }
                    })
                }
                other => {
                    return Err(Error::invalid(
                        "update_mask",
                        format!("{other} cannot be updated; display_name and status can"),
                    )
                    .into());
                }
            }
        }
        let updated = self
            .services
            .update_partner(id, display_name, status)
            .await?;
        Ok(Response::new(pb::Partner::from(updated)))
    }

    async fn create_partner_key(
        &self,
        request: Request<pb::CreatePartnerKeyRequest>,
    ) -> Result<Response<pb::CreatePartnerKeyResponse>, Status> {
        let principal = caller::<(Admin,), _>(&request)?;
        let id = names::partner("parent", &request.get_ref().parent, principal)?;
        let (key, api_key) = self.services.create_partner_key(id).await?;
        Ok(Response::new(pb::CreatePartnerKeyResponse {
            key: Some(pb::PartnerKey::from(key)),
            api_key,
        }))
    }

    async fn revoke_partner_key(
        &self,
        request: Request<pb::RevokePartnerKeyRequest>,
    ) -> Result<Response<pb::PartnerKey>, Status> {
        caller::<(Admin,), _>(&request)?;
        let (partner, key) = names::partner_key("name", &request.get_ref().name)?;
        let key = self.services.revoke_partner_key(partner, key).await?;
        Ok(Response::new(pb::PartnerKey::from(key)))
    }
}
