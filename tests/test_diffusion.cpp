// Facts about the diffusion processes: schedule values from DiffCSP's
// tables, the wrapped-normal score against its log-density, and the steps.
#include <gtest/gtest.h>

#include <cmath>

#include "diffusion/lattice_ddpm.h"
#include "sample/sampler.h"
#include "diffusion/schedules.h"
#include "diffusion/torus_flow.h"
#include "diffusion/torus_ve.h"
#include "diffusion/wrapped_normal.h"

using namespace xtaldiff;

TEST(Schedules, CosineAlphaBarAndPosteriorStd) {
  const CosineBetaSchedule s(1000);
  EXPECT_NEAR(s.alpha_bar[500], 0.49365, 5e-5);
  EXPECT_NEAR(s.posterior_std[500], 0.05600, 5e-5);
  EXPECT_DOUBLE_EQ(s.beta[0], 0.0);
  EXPECT_DOUBLE_EQ(s.alpha_bar[0], 1.0);
  for (int t = 1; t <= 1000; ++t) {
    EXPECT_GE(s.beta[t], 1e-4);
    EXPECT_LE(s.beta[t], 0.9999);
  }
  EXPECT_LT(s.alpha_bar[1000], 1e-4);  // fully noised at T
}

TEST(Schedules, GeometricSigmaAndScoreNorm) {
  const GeometricSigmaSchedule s(1000, 0.005, 0.5);
  EXPECT_DOUBLE_EQ(s.sigma[0], 0.0);
  EXPECT_NEAR(s.sigma[1], 0.005, 1e-15);
  EXPECT_NEAR(s.sigma[1000], 0.5, 1e-12);
  // λ_t σ_t² → 1 while the wrapped normal is still a plain normal, and falls
  // below 1 as wrapping sets in.
  EXPECT_NEAR(s.lambda[500] * s.sigma[500] * s.sigma[500], 1.0000, 1e-4);
  EXPECT_NEAR(s.lambda[750] * s.sigma[750] * s.sigma[750], 0.952, 1e-3);
  EXPECT_DOUBLE_EQ(s.lambda[0], 1.0);
}

TEST(WrappedNormal, ScoreIsDerivativeOfLogDensity) {
  for (double sigma : {0.01, 0.1, 0.3, 0.5, 1.0}) {
    for (double x : {-0.49, -0.2, 0.0, 0.013, 0.3, 0.47}) {
      const double h = 1e-6;
      const double fd = (wrapped_normal_log_density(x + h, sigma) - wrapped_normal_log_density(x - h, sigma)) / (2 * h);
      EXPECT_NEAR(wrapped_normal_score(x, sigma), fd, 1e-4 * std::max(1.0, std::fabs(fd))) << sigma << " " << x;
    }
  }
}

TEST(WrappedNormal, DensityIntegratesToOneAndIsPeriodic) {
  for (double sigma : {0.05, 0.5, 1.0}) {
    double sum = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) sum += std::exp(wrapped_normal_log_density((i + 0.5) / n, sigma)) / n;
    EXPECT_NEAR(sum, 1.0, 1e-6) << sigma;
    EXPECT_NEAR(wrapped_normal_score(0.3, sigma), wrapped_normal_score(1.3, sigma), 1e-9);
  }
}

TEST(WrappedNormal, TensorFormIsNegatedScore) {
  auto x = torch::tensor({-0.3, 0.0, 0.11, 0.45}, torch::kFloat64);
  auto sigma = torch::tensor({0.02, 0.2, 0.5, 0.05}, torch::kFloat64);
  auto got = wrapped_normal_neg_score(x, sigma);
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(got[i].item<double>(), -wrapped_normal_score(x[i].item<double>(), sigma[i].item<double>()), 1e-9);
  // Stable where every image's weight underflows in a naive sum.
  auto far = wrapped_normal_neg_score(torch::tensor({0.45}, torch::kFloat64), torch::tensor({0.002}, torch::kFloat64));
  EXPECT_TRUE(std::isfinite(far.item<double>()));
}

TEST(LatticeDdpm, NoiseAndExactReverseStep) {
  const LatticeDdpm ddpm(1000);
  auto l0 = torch::randn({2, 3, 3}, torch::kFloat64);
  auto eps = torch::randn({2, 3, 3}, torch::kFloat64);
  auto t = torch::tensor({1, 700}, torch::kInt64);
  auto lt = ddpm.noise(l0, t, eps);
  const auto& s = ddpm.schedule();
  EXPECT_NEAR((lt[1] - (std::sqrt(s.alpha_bar[700]) * l0[1] + std::sqrt(1 - s.alpha_bar[700]) * eps[1])).abs().max().item<double>(), 0, 1e-12);
  // With the true noise, DDIM from t to 0 recovers L0 exactly; the general
  // ancestral step agrees with DiffCSP's one-step form.
  auto back = ddpm.step_ddim(lt.index({1}).unsqueeze(0), eps.index({1}).unsqueeze(0), 700, 0);
  EXPECT_NEAR((back[0] - l0[1]).abs().max().item<double>(), 0, 1e-9);
  auto z = torch::zeros({1, 3, 3}, torch::kFloat64);
  auto one = ddpm.step_ancestral(lt.index({1}).unsqueeze(0), eps.index({1}).unsqueeze(0), 700, 699, z);
  // General formula evaluated through L̂0 for s = t − 1 (mean part):
  const double ab_t = s.alpha_bar[700], ab_s = s.alpha_bar[699], a = ab_t / ab_s;
  auto l0hat = (lt[1] - std::sqrt(1 - ab_t) * eps[1]) / std::sqrt(ab_t);
  auto mean = std::sqrt(ab_s) * (1 - a) / (1 - ab_t) * l0hat + std::sqrt(a) * (1 - ab_s) / (1 - ab_t) * lt[1];
  EXPECT_NEAR((one[0] - mean).abs().max().item<double>(), 0, 1e-9);
}

TEST(LatticeDdpm, ClippedCleanEstimateBoundsTheFirstStepFromT) {
  // ᾱ_T of the clipped cosine schedule is ~2e-10: a 1e-3 error in ε̂ at T
  // becomes ~60 Å in L̂_0. The clip bounds it and the step stays DDIM's
  // form with the noise the clipped estimate implies.
  const LatticeDdpm ddpm(1000);
  const auto& s = ddpm.schedule();
  EXPECT_LT(s.alpha_bar[1000], 1e-9);
  torch::manual_seed(2);
  auto l0 = 4.0 * torch::eye(3, torch::kFloat64).unsqueeze(0);
  auto eps = torch::randn({1, 3, 3}, torch::kFloat64);
  auto lt = ddpm.noise(l0, torch::tensor({1000}, torch::kInt64), eps);
  auto eps_hat = eps + 1e-3 * torch::randn({1, 3, 3}, torch::kFloat64);
  EXPECT_GT(ddpm.clean_estimate(lt, eps_hat, 1000).abs().max().item<double>(), 20.0);
  auto clipped = ddpm.clean_estimate(lt, eps_hat, 1000, 8.0);
  EXPECT_LE(clipped.abs().max().item<double>(), 8.0);
  auto step = ddpm.step_ddim(lt, eps_hat, 1000, 900, 8.0);
  auto implied = (lt - std::sqrt(s.alpha_bar[1000]) * clipped) / std::sqrt(1 - s.alpha_bar[1000]);
  auto expected = std::sqrt(s.alpha_bar[900]) * clipped + std::sqrt(1 - s.alpha_bar[900]) * implied;
  EXPECT_LT((step - expected).abs().max().item<double>(), 1e-9);
  // A clip that does not bind leaves the step as it was.
  auto lt2 = ddpm.noise(l0, torch::tensor({300}, torch::kInt64), eps);
  EXPECT_LT((ddpm.step_ddim(lt2, eps, 300, 200, 50.0) - ddpm.step_ddim(lt2, eps, 300, 200)).abs().max().item<double>(),
            1e-12);
  // DiffCSP's single steps are never clipped.
  auto z = torch::randn({1, 3, 3}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(ddpm.step_ancestral(lt, eps_hat, 1000, 999, z, 1.0),
                           ddpm.step_ancestral(lt, eps_hat, 1000, 999, z)));
}

TEST(LatticeDdpm, PerCrystalBoundsClampEachCrystalAndZeroDropsTheEstimate) {
  const LatticeDdpm ddpm(1000);
  const auto& s = ddpm.schedule();
  torch::manual_seed(5);
  auto l0 = 4.0 * torch::eye(3, torch::kFloat64).unsqueeze(0).repeat({3, 1, 1});
  auto eps = torch::randn({3, 3, 3}, torch::kFloat64);
  auto lt = ddpm.noise(l0, torch::full({3}, 1000, torch::kInt64), eps);
  auto eps_hat = eps + 1e-3 * torch::randn({3, 3, 3}, torch::kFloat64);
  // One bound per crystal: each is clamped to its own.
  auto bounds = torch::tensor({8.0, 3.0, 50.0}, torch::kFloat64);
  auto per = ddpm.clean_estimate(lt, eps_hat, 1000, bounds);
  for (int b = 0; b < 3; ++b) {
    auto alone = ddpm.clean_estimate(lt.slice(0, b, b + 1), eps_hat.slice(0, b, b + 1), 1000, bounds[b].item<double>());
    EXPECT_LT((per.slice(0, b, b + 1) - alone).abs().max().item<double>(), 1e-12) << b;
    auto step = ddpm.step_ddim(lt, eps_hat, 1000, 950, bounds).slice(0, b, b + 1);
    auto step_alone =
        ddpm.step_ddim(lt.slice(0, b, b + 1), eps_hat.slice(0, b, b + 1), 1000, 950, bounds[b].item<double>());
    EXPECT_LT((step - step_alone).abs().max().item<double>(), 1e-12) << b;
  }
  EXPECT_LE(per[1].abs().max().item<double>(), 3.0);
  // A zero bound drops the estimate: the DDIM step only rescales the noise,
  // L_s = sqrt(1 − ᾱ_s) / sqrt(1 − ᾱ_t) · L_t.
  auto zero = ddpm.step_ddim(lt, eps_hat, 1000, 950, torch::zeros({3}, torch::kFloat64));
  auto rescaled = std::sqrt((1 - s.alpha_bar[950]) / (1 - s.alpha_bar[1000])) * lt;
  EXPECT_LT((zero - rescaled).abs().max().item<double>(), 1e-12);
  // Undefined bounds: the unclamped step.
  EXPECT_LT((ddpm.step_ddim(lt, eps_hat, 1000, 950, torch::Tensor()) - ddpm.step_ddim(lt, eps_hat, 1000, 950))
                .abs()
                .max()
                .item<double>(),
            1e-12);
  // The ancestral posterior of a strided step takes the same bounds.
  auto z = torch::randn({3, 3, 3}, torch::kFloat64);
  auto anc = ddpm.step_ancestral(lt, eps_hat, 1000, 900, z, bounds).slice(0, 1, 2);
  auto anc_alone = ddpm.step_ancestral(lt.slice(0, 1, 2), eps_hat.slice(0, 1, 2), 1000, 900, z.slice(0, 1, 2), 3.0);
  EXPECT_LT((anc - anc_alone).abs().max().item<double>(), 1e-12);
}

TEST(LatticeDdpm, ClipBoundsGrowWithTheCubeRootOfTheAtomCount) {
  SampleOptions o;
  const auto counts = torch::tensor({1, 8, 27}, torch::kInt64);
  EXPECT_FALSE(lattice_clip_bounds(o, counts).defined());  // neither bound set
  o.lattice_clip = 10;
  auto b = lattice_clip_bounds(o, counts);
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(b[i].item<float>(), 10.0f);
  o.lattice_clip_per_atom = 4;  // 4, 8, 12 Å; the absolute bound caps the last
  b = lattice_clip_bounds(o, counts);
  EXPECT_FLOAT_EQ(b[0].item<float>(), 4.0f);
  EXPECT_FLOAT_EQ(b[1].item<float>(), 8.0f);
  EXPECT_FLOAT_EQ(b[2].item<float>(), 10.0f);
  o.lattice_clip = 0;
  b = lattice_clip_bounds(o, counts);
  EXPECT_NEAR(b[2].item<float>(), 12.0f, 1e-5);
}

TEST(TorusVe, NoiseWrapsAndTargetMatchesScore) {
  const TorusVe ve(1000, 0.005, 0.5);
  auto x0 = torch::tensor({{0.95, 0.5, 0.01}}, torch::kFloat64);
  auto t = torch::tensor({900}, torch::kInt64);
  auto eps = torch::tensor({{1.0, -2.0, 0.5}}, torch::kFloat64);
  auto [xt, target] = ve.noise_and_target(x0, t, eps);
  EXPECT_GE(xt.min().item<double>(), 0.0);
  EXPECT_LT(xt.max().item<double>(), 1.0);
  const double sigma = ve.schedule().sigma[900], lambda = ve.schedule().lambda[900];
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(target[0][k].item<double>(),
                -wrapped_normal_score(sigma * eps[0][k].item<double>(), sigma) / std::sqrt(lambda), 1e-9);
}

TEST(TorusFlow, PathAndVelocityTargetByHand) {
  // Two atoms of one crystal at τ = 250/1000. Shortest displacements
  // w(x1 − x0): (0.1, 0.4, −0.41) and (−0.1, 0.1, 0); their mean
  // (0, 0.25, −0.205) is removed, leaving ±(0.1, 0.15, −0.205).
  const TorusFlow flow(1000);
  auto x0 = torch::tensor({{0.95, 0.5, 0.01}, {0.2, 0.2, 0.2}}, torch::kFloat64);
  auto x1 = torch::tensor({{0.05, 0.9, 0.6}, {0.1, 0.3, 0.2}}, torch::kFloat64);
  auto t = torch::tensor({250, 250}, torch::kInt64);
  auto crystal = torch::tensor({0, 0}, torch::kInt64);
  auto [xt, target] = flow.noise_and_target(x0, t, x1, crystal, 1);
  const double v[2][3] = {{0.1, 0.15, -0.205}, {-0.1, -0.15, 0.205}};
  const double x[2][3] = {{0.975, 0.5375, 0.95875}, {0.175, 0.1625, 0.25125}};
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(target[i][k].item<double>(), v[i][k] * std::sqrt(12.0), 1e-12);
      EXPECT_NEAR(xt[i][k].item<double>(), x[i][k], 1e-12);
    }
  // With the exact velocity, one Euler step to τ = 0 lands on x0 (wrapped),
  // and a step to τ = 0.1 on the path's point there.
  auto back = flow.step(xt, target, 250, 0);
  EXPECT_LT((back - x0).abs().max().item<double>(), 1e-12);
  auto mid = flow.step(xt, target, 250, 100);
  EXPECT_NEAR(mid[0][2].item<double>(), 0.01 - 0.1 * 0.205 + 1.0, 1e-12);
  // A one-atom crystal has nothing but translation: its target is zero.
  auto [x_single, t_single] =
      flow.noise_and_target(x0.slice(0, 0, 1), t.slice(0, 0, 1), x1.slice(0, 0, 1), crystal.slice(0, 0, 1), 1);
  EXPECT_LT(t_single.abs().max().item<double>(), 1e-12);
}

TEST(TorusFlow, AntiAnnealingScalesTheVelocityButNeverPassesTheCleanEstimate) {
  const TorusFlow flow(1000);
  // 1 + S·(1 − τ): no change at τ = 1, 2.5 at τ = ½ for S = 3 ...
  EXPECT_DOUBLE_EQ(flow.anneal_factor(1000, 1000, 950, 3.0), 1.0);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(500, 500, 450, 3.0), 2.5);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(500, 500, 450, 0.0), 1.0);
  // ... capped at τ_from / (τ_from − τ_to): from 500 to 300 at most 2.5,
  // from 100 to 50 at most 2, and the last step (to 0) lands on x − τ·v̂.
  EXPECT_DOUBLE_EQ(flow.anneal_factor(500, 500, 300, 10.0), 2.5);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(100, 100, 50, 10.0), 2.0);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(50, 50, 0, 10.0), 1.0);
  // A late onset τ_a: the plain ODE before it, 1 + S·(1 − τ/τ_a) after it
  // (capped as above): τ_a = ½, S = 10 gives 1 at τ = 0.6, 3 at τ = 0.4,
  // 1 + 10·½ = 6 at τ = ¼ (capped at 250/50 = 5 when stepping to 200).
  EXPECT_DOUBLE_EQ(flow.anneal_factor(600, 600, 550, 10.0, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(400, 400, 300, 10.0, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(250, 250, 240, 10.0, 0.5), 6.0);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(250, 250, 200, 10.0, 0.5), 5.0);
  EXPECT_DOUBLE_EQ(flow.anneal_factor(500, 500, 450, 3.0, 1.0), flow.anneal_factor(500, 500, 450, 3.0));
  auto pred = torch::tensor({{std::sqrt(12.0), 0.0, -std::sqrt(12.0)}}, torch::kFloat64);
  EXPECT_NEAR(flow.slope(pred, 2.5)[0][0].item<double>(), 2.5, 1e-12);
  EXPECT_NEAR(flow.slope(pred)[0][2].item<double>(), -1.0, 1e-12);
  auto x = torch::tensor({{0.3, 0.5, 0.7}}, torch::kFloat64);
  auto last = flow.step(x, pred, 50, 0, 10.0);  // x − 0.05·v̂
  EXPECT_NEAR(last[0][0].item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(last[0][2].item<double>(), 0.75, 1e-12);
}

TEST(TorusFlow, CentredPathEndsAtTheNoiseUpToOneTranslation) {
  // At τ = 1 the path point is x1 shifted by one vector per crystal: every
  // difference of two atoms' positions equals that of their noise (mod 1),
  // so the crystal the path ends at is the uniform noise's crystal, which
  // is what sampling starts from.
  const TorusFlow flow(100);
  torch::manual_seed(4);
  const int64_t crystals = 50, atoms = 5;
  auto x0 = torch::rand({crystals * atoms, 3}, torch::kFloat64) * 0.1;
  auto x1 = torch::rand({crystals * atoms, 3}, torch::kFloat64);
  auto crystal = torch::arange(crystals, torch::kInt64).repeat_interleave(atoms);
  auto t = torch::full({crystals * atoms}, int64_t{100});
  auto xt = flow.noise_and_target(x0, t, x1, crystal, crystals).first.view({crystals, atoms, 3});
  auto noise = x1.view({crystals, atoms, 3});
  auto diff = (xt - xt.select(1, 0).unsqueeze(1)) - (noise - noise.select(1, 0).unsqueeze(1));
  EXPECT_LT((diff - torch::round(diff)).abs().max().item<double>(), 1e-12);
  auto shift = xt - noise;  // the per-crystal translation is not zero in general
  EXPECT_GT((shift - torch::round(shift)).abs().max().item<double>(), 1e-3);
}
