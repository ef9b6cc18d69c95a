//! `tessera.v1.PartnerService`: partners and their API keys. Admin only, except that a
//! partner may read itself.

use super::{context::Context, convert::timestamp, names};
use crate::{
    domain::{
        account::parse_display_name,
        page::PageRequest,
        partner::{Partner, PartnerKey, PartnerStatus},
    },
    error::Error,
    proto::{self as pb, partner_service_server::PartnerService},
};
use tonic::{Request, Response, Status};

/// Partners and API keys.
#[derive(Debug, Clone)]
pub struct PartnerApi {
    ctx: Context,
}

impl PartnerApi {
    /// The service over shared state.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

fn partner_view(partner: Partner) -> pb::Partner {
    pb::Partner {
        name: format!("partners/{}", partner.id),
        display_name: partner.display_name,
        status: match partner.status {
            PartnerStatus::Active => pb::PartnerStatus::Active,
            PartnerStatus::Disabled => pb::PartnerStatus::Disabled,
        } as i32,
        create_time: Some(timestamp(partner.created_at)),
    }
}

fn key_view(key: PartnerKey) -> pb::PartnerKey {
    pb::PartnerKey {
        name: format!("partners/{}/keys/{}", key.partner_id, key.id),
        prefix: key.prefix,
        create_time: Some(timestamp(key.created_at)),
        revoke_time: key.revoked_at.map(timestamp),
    }
}

#[tonic::async_trait]
impl PartnerService for PartnerApi {
    async fn create_partner(
        &self,
        request: Request<pb::CreatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        self.ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
        let name = parse_display_name("display_name", &request.get_ref().display_name, true)?;
        let partner = self.ctx.store.create_partner(&name, self.ctx.now()).await?;
        Ok(Response::new(partner_view(partner)))
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["admin", "partner"])
            .await?;
        let id = names::partner("name", &request.get_ref().name, access)?;
        let partner = self.ctx.store.get_partner(access, id).await?;
        Ok(Response::new(partner_view(partner)))
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        self.ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
        let req = request.into_inner();
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let page = self.ctx.store.list_partners(&page).await?;
        Ok(Response::new(pb::ListPartnersResponse {
            partners: page.items.into_iter().map(partner_view).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
        let req = request.into_inner();
        let partner = req
            .partner
            .ok_or_else(|| Error::invalid("partner", "is required"))?;
        let id = names::partner("partner.name", &partner.name, access)?;
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
            .ctx
            .store
            .update_partner(id, display_name.as_deref(), status)
            .await?;
        Ok(Response::new(partner_view(updated)))
    }

    async fn create_partner_key(
        &self,
        request: Request<pb::CreatePartnerKeyRequest>,
    ) -> Result<Response<pb::CreatePartnerKeyResponse>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
        let id = names::partner("parent", &request.get_ref().parent, access)?;
        let (key, api_key) = self.ctx.create_partner_key(id).await?;
        Ok(Response::new(pb::CreatePartnerKeyResponse {
            key: Some(key_view(key)),
            api_key,
        }))
    }

    async fn revoke_partner_key(
        &self,
        request: Request<pb::RevokePartnerKeyRequest>,
    ) -> Result<Response<pb::PartnerKey>, Status> {
        self.ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
        let (partner, key) = names::partner_key("name", &request.get_ref().name)?;
        let key = self
            .ctx
            .store
            .revoke_partner_key(partner, key, self.ctx.now())
            .await?;
        Ok(Response::new(key_view(key)))
    }
}
