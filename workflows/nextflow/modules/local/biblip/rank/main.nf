// nf-core style module: rank a patient's variants against HPO phenotypes with biblip.
process BIBLIP_RANK {
    tag "${meta.id}"
    label 'process_medium'
    accelerator params.biblip_gpus ?: 0

    conda "${moduleDir}/environment.yml"
    // Built from workflows/container/Dockerfile (Apptainer: workflows/container/biblip.def); not published.
    container "biblip:0.1.0"

    input:
    // ped, phenopacket: [] when absent; phenotypes: 'HP:..,HP:..' or '' (then the phenopacket's terms)
    tuple val(meta), path(vcf), path(ped), path(phenopacket), val(phenotypes)
    path bundle
    path model

    output:
    tuple val(meta), path("*.rank.vcf.gz")  , emit: vcf
    tuple val(meta), path("*.rank.tsv")     , emit: tsv
    tuple val(meta), path("*.genes.tsv")    , emit: genes
    tuple val(meta), path("*.report.html")  , emit: html
    tuple val("${task.process}"), val('biblip'), eval("biblip --version | sed 's/^biblip //'"), topic: versions, emit: versions_biblip

    when:
    task.ext.when == null || task.ext.when

    script:
    def args            = task.ext.args ?: ''   // e.g. "--sample ${meta.id}" for a multi-sample VCF
    def prefix          = task.ext.prefix ?: "${meta.id}"
    def phenotype_arg   = phenotypes ? "--phenotype ${phenotypes}" : ''
    def ped_arg         = ped ? "--ped ${ped}" : ''
    def phenopacket_arg = phenopacket ? "--phenopacket ${phenopacket}" : ''
    """
    biblip rank ${vcf} \\
        ${phenotype_arg} \\
        ${phenopacket_arg} \\
        ${ped_arg} \\
        --bundle ${bundle} \\
        --model ${model} \\
        --threads ${task.cpus} \\
        --output-type z \\
        -o ${prefix}.rank.vcf.gz \\
        --tsv ${prefix}.rank.tsv \\
        --gene-tsv ${prefix}.genes.tsv \\
        --html ${prefix}.report.html \\
        ${args}
    """

    stub:
    def args            = task.ext.args ?: ''
    def prefix          = task.ext.prefix ?: "${meta.id}"
    def phenotype_arg   = phenotypes ? "--phenotype ${phenotypes}" : ''
    def ped_arg         = ped ? "--ped ${ped}" : ''
    def phenopacket_arg = phenopacket ? "--phenopacket ${phenopacket}" : ''
    """
    echo "biblip rank ${vcf} ${phenotype_arg} ${phenopacket_arg} ${ped_arg} --bundle ${bundle} --model ${model} --threads ${task.cpus} --output-type z -o ${prefix}.rank.vcf.gz --tsv ${prefix}.rank.tsv --gene-tsv ${prefix}.genes.tsv --html ${prefix}.report.html ${args}" > ${prefix}.command.txt
    echo "" | gzip > ${prefix}.rank.vcf.gz
    touch ${prefix}.rank.tsv ${prefix}.genes.tsv ${prefix}.report.html
    """
}
