"""Multimodal generation (midterm problem 5): VAEs, DDPM diffusion and flow matching.

Shapes: B batch; x tensors are [B, ...] (any number of trailing feature dims);
latents mu, logvar are [B, k]; T diffusion steps. Time conventions:
- diffusion: t is an int64 tensor of shape [B] holding 0-based indices into
  betas / alpha_bar (length T); t = 0 is the least noisy step, t = T-1 the
  most noisy; ᾱ_t = Π_{s<=t} (1 - β_s).
- flow matching: continuous time in [0, 1], t = 0 is noise (x0) and t = 1 is
  data (x1).
A per-example t of shape [B] broadcasts over the trailing dims of x
(t.reshape(B, 1, ..., 1)). Every function works for B = 1, for float32 and
float64, and on any device: outputs have the inputs' dtype and device, and no
new tensor is created on the CPU when the inputs live elsewhere. No input is
modified in place.
"""

import torch


# BEGIN SOLUTION
def _per_example(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a [B] tensor to [B, 1, ..., 1] so it broadcasts over x's trailing dims."""
    return values.reshape(-1, *([1] * (x.dim() - 1)))


# END SOLUTION


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The VAE reparameterisation trick: z = mu + σ·eps, a sample of N(mu, diag σ²).

    σ is the standard deviation and logvar the log-variance log σ² (so
    logvar is not σ, nor σ²). eps ~ N(0, I) is given, so the function is
    deterministic and differentiable.
    Differentiable in: mu, logvar, eps.

    Args:
        mu: shape [B, k].
        logvar: shape [B, k], log-variance log σ².
        eps: shape [B, k], standard normal noise.

    Returns:
        z: shape [B, k], same dtype and device as mu.
    """
    # BEGIN SOLUTION
    # σ = exp(logvar / 2) (exp(logvar) would be the variance).
    return mu + torch.exp(0.5 * logvar) * eps
    # END SOLUTION


def vae_loss(
    x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """The VAE loss, averaged over the batch: the negative ELBO up to constants and the
    weighting of the reconstruction term (a squared error stands for -log p(x|z)).

    For each example: its reconstruction error, the squared error summed (not
    averaged) over all of x's feature dims, plus the KL divergence of its
    Gaussian posterior N(mu, diag σ²) (logvar = log σ²) from the prior N(0, I),
    in closed form and summed over the k latent dims. The loss is the mean of
    these per-example terms over the batch.
    Differentiable in: x, x_hat, mu, logvar.

    Args:
        x: shape [B, ...], the data.
        x_hat: shape [B, ...] like x, the reconstruction.
        mu: shape [B, k], posterior means.
        logvar: shape [B, k], posterior log-variances log σ².

    Returns:
        a 0-d tensor (shape []), same dtype and device as x.
    """
    # BEGIN SOLUTION
    # recon_n = Σ (x_hat[n] - x[n])² over all feature dims;
    # kl_n = -½ Σ_k (1 + logvar - mu² - exp(logvar)) ≥ 0, zero exactly at mu = 0, logvar = 0;
    # loss = mean over n of (recon_n + kl_n).
    recon = (x_hat - x).pow(2).reshape(x.shape[0], -1).sum(dim=1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
    return (recon + kl).mean()
    # END SOLUTION


def q_sample(
    x0: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Sample the DDPM forward process q(x_t | x0) in closed form, with the given noise.

    Example n is noised to level ᾱ = alpha_bar[t[n]] (t is a 0-based index
    into alpha_bar), the reparameterised sample of N(√ᾱ·x0, (1 - ᾱ)·I) with
    `noise` as its standard normal draw. Endpoints: ᾱ = 1 gives x0, ᾱ = 0
    gives the noise. The schedule is a constant: no gradient needs to reach
    alpha_bar (nor t).
    Differentiable in: x0, noise.

    Args:
        x0: shape [B, ...], clean data.
        t: int64 tensor of shape [B], 0-based step indices in [0, T).
        alpha_bar: shape [T], cumulative products ᾱ_t = Π_{s<=t} (1 - β_s).
        noise: shape like x0, standard normal noise.

    Returns:
        x_t: shape like x0, same dtype and device as x0.
    """
    # BEGIN SOLUTION
    # x_t = √ᾱ_t · x0 + √(1 - ᾱ_t) · noise, ᾱ_t reshaped to [B, 1, ..., 1].
    ab = _per_example(alpha_bar[t], x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    # END SOLUTION


def p_sample_step(
    x_t: torch.Tensor,
    eps_pred: torch.Tensor,
    t: torch.Tensor,
    betas: torch.Tensor,
    noise: torch.Tensor,
) -> torch.Tensor:
    """One DDPM reverse (ancestral sampling) step x_t -> x_{t-1} from a noise prediction.

    The step of Ho et al. (2020), Algorithm 2: the posterior mean of x_{t-1}
    given x_t and the predicted noise eps_pred (ε-parameterisation), plus
    σ_t · noise with the variance σ_t² = β_t; no noise is added where t = 0 (the
    last step returns the mean). Example n uses step t[n], a 0-based index into
    betas, with α_t = 1 - β_t and ᾱ_t = Π_{s<=t} α_s. The schedule is a
    constant: no gradient needs to reach betas (nor t).
    Differentiable in: x_t, eps_pred, noise.

    Args:
        x_t: shape [B, ...], the current noisy sample.
        eps_pred: shape like x_t, the model's noise prediction.
        t: int64 tensor of shape [B], 0-based step indices in [0, T).
        betas: shape [T], the noise schedule β_0 .. β_{T-1}.
        noise: shape like x_t, standard normal noise z.

    Returns:
        x_{t-1}: shape like x_t, same dtype and device as x_t.
    """
    # BEGIN SOLUTION
    # mean = (x_t - β_t / √(1 - ᾱ_t) · eps_pred) / √α_t, x_{t-1} = mean + √β_t · noise
    # where t > 0; β_t, α_t, ᾱ_t taken at t[n] and reshaped to [B, 1, ..., 1].
    alphas = 1 - betas
    alpha_bar = torch.cumprod(alphas, dim=0)
    beta_t = _per_example(betas[t], x_t)
    alpha_t = _per_example(alphas[t], x_t)
    ab_t = _per_example(alpha_bar[t], x_t)
    mean = (x_t - beta_t / (1 - ab_t).sqrt() * eps_pred) / alpha_t.sqrt()
    nonzero = _per_example((t > 0).to(x_t.dtype), x_t)
    return mean + nonzero * beta_t.sqrt() * noise
    # END SOLUTION


def flow_matching_pair(
    x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training pair of (rectified) flow matching on the straight path from noise to data.

    x_t is the point at time t[n] on the straight line (linear interpolation)
    from the noise x0 (t = 0) to the data x1 (t = 1), and v the target
    velocity, the time derivative of that path. The time is an input, not a
    parameter: no gradient needs to reach t.
    Differentiable in: x0, x1.

    Args:
        x0: shape [B, ...], noise.
        x1: shape like x0, data.
        t: shape [B], times in [0, 1], same dtype as x0.

    Returns:
        (x_t, v): a tuple of two tensors shaped like x0, same dtype and device as x0.
    """
    # BEGIN SOLUTION
    # x_t = (1 - t)·x0 + t·x1, v = d x_t / dt = x1 - x0.
    tt = _per_example(t, x0)
    return (1 - tt) * x0 + tt * x1, x1 - x0
    # END SOLUTION


def euler_sample(x0: torch.Tensor, velocity: torch.nn.Module, steps: int) -> torch.Tensor:
    """Integrate dx/dt = velocity(x, t) from t = 0 to t = 1 with explicit Euler steps.

    `steps` steps of equal size cover [0, 1]; each evaluates the velocity once,
    at the start of its interval (t = 0 first, never t = 1). The result is x
    after the last step. The velocity module is given, not learned here.
    Differentiable in: x0.

    Args:
        x0: shape [B, d], samples at t = 0 (noise).
        velocity: a torch.nn.Module called as velocity(x, t) with x shaped like
            x0 and t the current time as a python float (a 0-d tensor or a
            tensor of shape [B] is accepted too); returns a tensor shaped like x.
        steps: the number of Euler steps, a python int >= 1.

    Returns:
        x1: shape like x0, same dtype and device as x0.
    """
    # BEGIN SOLUTION
    # h = 1/steps on the left-endpoint grid t_k = k/steps: x_{k+1} = x_k + h·velocity(x_k, t_k).
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * velocity(x, k / steps)
    return x
    # END SOLUTION
