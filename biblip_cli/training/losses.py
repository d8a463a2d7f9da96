"""Stage 1's losses: variant-text contrastive (VTC), matching with hard negatives (VTM), cheap-head BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def stage1_losses(
    model, x, text_emb: torch.Tensor, texts: list[str], labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """VTC + VTM (hard negatives from VTC similarities) + cheap-head BCE on one batch."""
    tokens, mask = model.encode(x)
    z = model.qformer(tokens, mask)
    B = z.shape[0]
    same = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.bool)
    logits = model.vtc_logits(z, text_emb)  # [B variants, B texts]
    target = same.float() / same.float().sum(1, keepdim=True)
    vtc = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target.t()))
    losses = {"vtc": vtc}
    if B > 1:
        with torch.no_grad():
            weights = F.softmax(logits.float(), dim=1).masked_fill(same, 0) + 1e-6
            weights = weights.masked_fill(same, 0)
            neg_text = torch.multinomial(weights, 1).squeeze(1)  # a hard text for each variant
            neg_var = torch.multinomial(weights.t().contiguous(), 1).squeeze(
                1
            )  # a hard variant for each text
        ok_t = ~same[torch.arange(B), neg_text]
        ok_v = ~same[neg_var, torch.arange(B)]
        all_tokens = torch.cat([tokens, tokens[ok_t], tokens[neg_var[ok_v]]])
        all_mask = torch.cat([mask, mask[ok_t], mask[neg_var[ok_v]]])
        all_text = torch.cat([text_emb, text_emb[neg_text[ok_t]], text_emb[ok_v]])
        vtm_y = torch.cat([torch.ones(B), torch.zeros(int(ok_t.sum()) + int(ok_v.sum()))])
        vtm_logits = model.vtm_logits(all_tokens, all_mask, all_text)
        losses["vtm"] = F.binary_cross_entropy_with_logits(vtm_logits, vtm_y)
    known = labels >= 0
    if bool(known.any()):
        losses["bce"] = F.binary_cross_entropy_with_logits(
            model.pathogenicity_logit(z)[known], labels[known].float()
        )
    return losses
