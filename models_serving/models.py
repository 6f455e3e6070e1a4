"""The registry of models that take part in the arena."""
from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class ServedModel(models.Model):
    """One arena entry: a checkpoint served by vLLM, a LoRA adapter on a base, or an external API.

    Only ``public_name`` and ``description`` are ever shown to volunteers, and only after they voted.
    API keys are never stored: ``api_key_env`` names the environment variable that holds one.
    """

    class Kind(models.TextChoices):
        VLLM_BASE = "vllm_base", _("vLLM checkpoint (full weights)")
        VLLM_LORA = "vllm_lora", _("LoRA adapter on a registered base")
        EXTERNAL = "external", _("External OpenAI-compatible endpoint")

    class Health(models.TextChoices):
        UNKNOWN = "unknown", _("Unknown")
        HEALTHY = "healthy", _("Healthy")
        UNHEALTHY = "unhealthy", _("Unhealthy")

    public_name = models.CharField(_("public name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.EXTERNAL)
    checkpoint_path = models.CharField(
        _("checkpoint path"), max_length=500, blank=True,
        help_text=_("Folder with config + weights, or with an adapter config + weights."),
    )
    base_model = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="adapters",
        limit_choices_to={"kind": "vllm_base"}, verbose_name=_("base model"),
    )
    endpoint_url = models.URLField(
        _("endpoint URL"), max_length=500, blank=True,
        help_text=_("OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"),
    )
    served_name = models.CharField(_("served model name"), max_length=200, blank=True)
    api_key_env = models.CharField(
        _("API key environment variable"), max_length=100, blank=True,
        help_text=_("Name of the environment variable that holds the key; never the key itself."),
    )
    system_prompt = models.TextField(_("system prompt"), blank=True)
    temperature = models.FloatField(
        _("temperature"), default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    top_p = models.FloatField(_("top p"), default=0.95, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    max_tokens = models.PositiveIntegerField(
        _("max tokens"), default=512, validators=[MinValueValidator(1), MaxValueValidator(32768)]
    )
    arena_weight = models.FloatField(
        _("arena weight"), default=1.0, validators=[MinValueValidator(0.0)],
        help_text=_("Relative chance of being drawn into a battle."),
    )
    identity_terms = models.TextField(
        _("identity words"), blank=True,
        help_text=_("One per line: names of this model or its maker. An answer that says one of them "
                    "flags the vote as an identity leak."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    health = models.CharField(_("health"), max_length=20, choices=Health.choices, default=Health.UNKNOWN)
    last_health_check = models.DateTimeField(_("last health check"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # How the vLLM server of a base is started. Empty/None fields fall back to the serving defaults
    # (settings.MODELS_SERVING, then serve_models options); only read for kind=vllm_base.
    server_dtype = models.CharField(
        _("server dtype"), max_length=10, blank=True,
        choices=[("auto", "auto"), ("float32", "float32"), ("bfloat16", "bfloat16"), ("float16", "float16")],
    )
    server_max_model_len = models.PositiveIntegerField(
        _("server max model length"), null=True, blank=True, validators=[MinValueValidator(64)]
    )
    server_gpu_memory = models.FloatField(
        _("server GPU memory share"), null=True, blank=True,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text=_("Fraction of GPU memory vLLM may take (ignored on CPU)."),
    )
    server_tensor_parallel = models.PositiveSmallIntegerField(
        _("server tensor parallel size"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    server_port = models.PositiveIntegerField(
        _("server port"), null=True, blank=True, validators=[MinValueValidator(1024), MaxValueValidator(65535)],
        help_text=_("Leave empty to pick a free port."),
    )
    server_extra_args = models.CharField(
        _("extra vLLM arguments"), max_length=500, blank=True,
        help_text=_("Shell-style, e.g. --enforce-eager --max-num-seqs 16"),
    )
    # Provenance: which recipe produced this checkpoint.
    backbone = models.CharField(_("backbone"), max_length=200, blank=True)
    recipe = models.CharField(_("recipe"), max_length=200, blank=True)
    training_run = models.CharField(_("training run"), max_length=200, blank=True)
    # The public card shown after the vote (never before): what the model is, in plain words.
    parameters = models.CharField(
        _("size"), max_length=40, blank=True, help_text=_("Number of parameters as people say it, e.g. 8B or 135M."),
    )
    adaptation = models.CharField(
        _("adaptation"), max_length=300, blank=True,
        help_text=_("How it was adapted, e.g. 'Basque corpus + Basque instructions, LoRA'."),
    )
    energy_wh_per_1k_tokens = models.FloatField(
        _("energy per 1,000 tokens (Wh)"), null=True, blank=True, validators=[MinValueValidator(0.0)],
        help_text=_("An estimate of the energy one answer costs, shown after the vote in everyday units."),
    )
    energy_source = models.CharField(
        _("source of the energy estimate"), max_length=300, blank=True,
        help_text=_("Where the estimate comes from, e.g. 'measured on our GPU server' or 'EcoLogits 0.8'."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_name"]
        verbose_name = _("served model")
        verbose_name_plural = _("served models")

    def __str__(self) -> str:
        return self.public_name

    def sampling_snapshot(self) -> dict:
        """What a battle freezes about this model when it starts."""
        return {
            "system_prompt": self.system_prompt,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }


class ModelServer(models.Model):
    """One vLLM server the project runs for a base model (and its active LoRA adapters).

    One row per base, updated on every (re)start. ``pid`` is the process-group leader on ``hostname``:
    any process on that host can stop the server, not only the one that started it.
    """

    class Status(models.TextChoices):
        STARTING = "starting", _("Starting")
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")
        FAILED = "failed", _("Failed")

    base = models.OneToOneField(ServedModel, on_delete=models.CASCADE, related_name="server",
                                verbose_name=_("base model"))
    served_name = models.CharField(_("served name"), max_length=200)
    hostname = models.CharField(_("host name"), max_length=200, blank=True)
    host = models.CharField(_("listen address"), max_length=100, default="127.0.0.1")
    port = models.PositiveIntegerField(_("port"))
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.STARTING)
    log_path = models.CharField(_("log file"), max_length=500, blank=True)
    # The VLLMServerSpec it was started with (model, dtype, lengths, LoRA sizes, extra args...).
    flags = models.JSONField(_("flags"), default=dict, blank=True)
    # served name -> adapter path, for every adapter the server holds now (static or loaded at run time).
    adapters = models.JSONField(_("loaded adapters"), default=dict, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    start_seconds = models.FloatField(_("start time (s)"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Starts in a row that failed or died before serving; sets the watcher's restart backoff.
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)

    class Meta:
        ordering = ["served_name"]
        verbose_name = _("model server")
        verbose_name_plural = _("model servers")

    def __str__(self) -> str:
        return f"{self.served_name} @ {self.host}:{self.port} ({self.status})"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.STARTING, self.Status.RUNNING)
